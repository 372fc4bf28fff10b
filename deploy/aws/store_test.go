package aws

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	ddb "github.com/geminiwebhooks/receiver/adapters/dynamodb"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// The parameter values a deployment gives for each idempotency store.
var storeParams = map[string]map[string]string{
	"firestore": {
		"IdempotencyStore":            "firestore",
		"SigningSecretArn":            "arn:aws:secretsmanager:us-east-1:123456789012:secret:gemini-webhook-signing-secret-AbCdEf",
		"GoogleCloudProject":          "my-project",
		"GcpWorkloadIdentityProvider": "projects/123/locations/global/workloadIdentityPools/aws-lambda/providers/aws",
	},
	"dynamodb": {
		"IdempotencyStore": "dynamodb",
		"SigningSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gemini-webhook-signing-secret-AbCdEf",
	},
}

// The resources that exist only with IdempotencyStore=dynamodb.
var dynamoOnly = []string{"IdempotencyTable", "IdempotencyTablePolicy", "IdempotencyTableThrottleAlarm"}

// Variables that tie a function to Google Cloud.
var googleVars = []string{"GOOGLE_CLOUD_PROJECT", "FIRESTORE_DATABASE", "FIRESTORE_COLLECTION", "GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_SERVICE_ACCOUNT"}

// TestTemplatePerStore renders the template for each IdempotencyStore value
// and checks what a deployment with it gets: every reference resolves to a
// resource that exists with that value; with dynamodb the table (on-demand,
// TTL on, point-in-time recovery on), its policy on both roles and its
// throttling alarm exist, the functions are told the store and the table and
// nothing of Google Cloud; with firestore none of that exists, no role may
// touch DynamoDB, and the functions get the Workload Identity settings.
func TestTemplatePerStore(t *testing.T) {
	tpl := loadTemplate(t)
	for _, store := range []string{"firestore", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			r := render(t, tpl, storeParams[store])
			checkRefsResolve(t, r)
			if failed := failedRules(t, tpl, r); len(failed) > 0 {
				t.Errorf("the template's rules refuse these parameters: %v", failed)
			}
			for _, name := range dynamoOnly {
				if _, ok := r.Resources[name]; ok != (store == "dynamodb") {
					t.Errorf("resource %s exists: %v, want %v", name, ok, store == "dynamodb")
				}
			}
			if _, ok := r.Outputs["IdempotencyTableName"]; ok != (store == "dynamodb") {
				t.Errorf("output IdempotencyTableName exists: %v", ok)
			}
			for _, fn := range []string{"GeminiWebhookFunction", "GeminiWorkerFunction"} {
				vars, _ := dig(r.Resources[fn], "Properties", "Environment", "Variables").(map[string]any)
				if vars["IDEMPOTENCY_STORE"] != store {
					t.Errorf("%s: IDEMPOTENCY_STORE=%v, want %s", fn, vars["IDEMPOTENCY_STORE"], store)
				}
				table, hasTable := vars["DYNAMODB_TABLE"]
				if store == "dynamodb" && fmt.Sprint(table) != fmt.Sprint(map[string]any{"Ref": "IdempotencyTable"}) {
					t.Errorf("%s: DYNAMODB_TABLE=%v, want the table's name", fn, table)
				}
				if store == "firestore" && hasTable {
					t.Errorf("%s: DYNAMODB_TABLE set with Firestore", fn)
				}
				for _, v := range googleVars {
					_, has := vars[v]
					if store == "dynamodb" && has {
						t.Errorf("%s: %s set with DynamoDB", fn, v)
					}
					if store == "firestore" && !has {
						t.Errorf("%s: %s missing with Firestore", fn, v)
					}
				}
			}
			if store == "firestore" {
				for name, res := range r.Resources {
					for _, a := range policyActions(res) {
						if strings.HasPrefix(a, "dynamodb:") {
							t.Errorf("%s allows %s with Firestore", name, a)
						}
					}
				}
				return
			}
			table := r.Resources["IdempotencyTable"]
			policy := r.Resources["IdempotencyTablePolicy"]
			roles := fmt.Sprint(dig(policy, "Properties", "Roles"))
			for _, role := range []string{"GeminiWebhookRole", "GeminiWorkerRole"} {
				if !strings.Contains(roles, "Ref:"+role) {
					t.Errorf("the table's policy is not attached to %s: %s", role, roles)
				}
			}
			checkTable(t, table)
			alarm := fmt.Sprint(r.Resources["IdempotencyTableThrottleAlarm"])
			for _, want := range []string{"AWS/DynamoDB", "ReadThrottleEvents", "WriteThrottleEvents", "TableName", "Ref:IdempotencyTable", "GlobalSecondaryIndexName Value:" + ddb.ListIndex} {
				if !strings.Contains(alarm, want) {
					t.Errorf("the throttling alarm lacks %s: %s", want, alarm)
				}
			}
		})
	}
}

// TestTemplateRulesNeedGoogleCloudForFirestore: Firestore without its
// project or provider is refused by the template's rules, before anything is
// created; DynamoDB needs neither.
func TestTemplateRulesNeedGoogleCloudForFirestore(t *testing.T) {
	tpl := loadTemplate(t)
	for _, c := range []struct {
		name    string
		params  map[string]string
		refused bool
	}{
		{"firestore without a project", map[string]string{"IdempotencyStore": "firestore", "GcpWorkloadIdentityProvider": "projects/1/locations/global/workloadIdentityPools/pool/providers/aws"}, true},
		{"firestore without a provider", map[string]string{"IdempotencyStore": "firestore", "GoogleCloudProject": "my-project"}, true},
		{"firestore by default, with neither", map[string]string{}, true},
		{"firestore with both", storeParams["firestore"], false},
		{"dynamodb with neither", storeParams["dynamodb"], false},
	} {
		t.Run(c.name, func(t *testing.T) {
			failed := failedRules(t, tpl, render(t, tpl, c.params))
			if (len(failed) > 0) != c.refused {
				t.Errorf("failed assertions %v, want refused=%v", failed, c.refused)
			}
		})
	}
}

// TestIAMActionsAreTheStoreCalls: the table's policy allows exactly the IAM
// actions behind the DynamoDB calls adapters/dynamodb makes, read from its
// code (each operation whose input type or paginator it uses; the items of
// a transaction are authorised by their own actions, as AWS documents for
// TransactWriteItems and TransactGetItems, which have none), on the table's
// ARN; and Query alone on its list index. A call added to the store without
// its permission, or a permission the store no longer needs, fails here.
func TestIAMActionsAreTheStoreCalls(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want := storeActions(t, filepath.Join(root, "adapters", "dynamodb"))
	r := render(t, loadTemplate(t), storeParams["dynamodb"])
	stmts, _ := dig(r.Resources["IdempotencyTablePolicy"], "Properties", "PolicyDocument", "Statement").([]any)
	onTable := fmt.Sprint(map[string]any{"Fn::GetAtt": []any{"IdempotencyTable", "Arn"}})
	onIndex := fmt.Sprint(map[string]any{"Fn::Sub": "${IdempotencyTable.Arn}/index/" + ddb.ListIndex})
	granted := map[string][]string{}
	for _, st := range stmts {
		res := fmt.Sprint(dig(st, "Resource"))
		if dig(st, "Effect") != "Allow" || (res != onTable && res != onIndex) {
			t.Errorf("the table's policy has a statement beyond Allow on the table or its %q index: %v", ddb.ListIndex, st)
			continue
		}
		granted[res] = append(granted[res], policyActions(map[string]any{"Properties": map[string]any{"PolicyDocument": map[string]any{"Statement": []any{st}}}})...)
	}
	for res, want := range map[string][]string{onTable: want, onIndex: {"dynamodb:Query"}} {
		got := granted[res]
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("IdempotencyTablePolicy allows %v on %s; adapters/dynamodb needs %v", got, res, want)
		}
	}
	for name, res := range r.Resources {
		if name == "IdempotencyTablePolicy" {
			continue
		}
		for _, a := range policyActions(res) {
			if strings.HasPrefix(a, "dynamodb:") {
				t.Errorf("%s allows %s: the table's permissions belong in IdempotencyTablePolicy only", name, a)
			}
		}
	}
}

// checkTable compares the rendered table with the one the store expects
// (ddb.TableInput: keys, attribute types, index, billing) and its time to
// live attribute (ddb.AttrTTL).
func checkTable(t *testing.T, table map[string]any) {
	t.Helper()
	in := ddb.TableInput("t")
	keys := func(ks []ddbtypes.KeySchemaElement) string {
		var out []string
		for _, k := range ks {
			out = append(out, *k.AttributeName+"="+string(k.KeyType))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	tplKeys := func(x any) string {
		l, _ := x.([]any)
		var out []string
		for _, k := range l {
			out = append(out, fmt.Sprint(dig(k, "AttributeName"))+"="+fmt.Sprint(dig(k, "KeyType")))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	var wantAttrs, gotAttrs, wantIdx, gotIdx []string
	for _, a := range in.AttributeDefinitions {
		wantAttrs = append(wantAttrs, *a.AttributeName+"="+string(a.AttributeType))
	}
	attrs, _ := dig(table, "Properties", "AttributeDefinitions").([]any)
	for _, a := range attrs {
		gotAttrs = append(gotAttrs, fmt.Sprint(dig(a, "AttributeName"))+"="+fmt.Sprint(dig(a, "AttributeType")))
	}
	for _, g := range in.GlobalSecondaryIndexes {
		wantIdx = append(wantIdx, *g.IndexName+": "+keys(g.KeySchema)+" "+string(g.Projection.ProjectionType))
	}
	idx, _ := dig(table, "Properties", "GlobalSecondaryIndexes").([]any)
	for _, g := range idx {
		gotIdx = append(gotIdx, fmt.Sprint(dig(g, "IndexName"))+": "+tplKeys(dig(g, "KeySchema"))+" "+fmt.Sprint(dig(g, "Projection", "ProjectionType")))
	}
	for _, l := range [][]string{wantAttrs, gotAttrs, wantIdx, gotIdx} {
		sort.Strings(l)
	}
	ttl := dig(table, "Properties", "TimeToLiveSpecification")
	for _, c := range []struct{ what, got, want string }{
		{"BillingMode", fmt.Sprint(dig(table, "Properties", "BillingMode")), string(in.BillingMode)},
		{"KeySchema", tplKeys(dig(table, "Properties", "KeySchema")), keys(in.KeySchema)},
		{"AttributeDefinitions", strings.Join(gotAttrs, " "), strings.Join(wantAttrs, " ")},
		{"GlobalSecondaryIndexes", strings.Join(gotIdx, "; "), strings.Join(wantIdx, "; ")},
		{"TimeToLiveSpecification", fmt.Sprint(dig(ttl, "AttributeName"), " ", dig(ttl, "Enabled")), ddb.AttrTTL + " true"},
		{"PointInTimeRecovery", fmt.Sprint(dig(table, "Properties", "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")), "true"},
		{"DeletionPolicy", fmt.Sprint(dig(table, "DeletionPolicy")), "Retain"},
	} {
		if c.got != c.want {
			t.Errorf("IdempotencyTable %s: %s, want %s (as adapters/dynamodb expects)", c.what, c.got, c.want)
		}
	}
}

// storeActions reads the non-test Go files of dir and returns the IAM
// actions of the DynamoDB operations they use, sorted.
func storeActions(t *testing.T, dir string) []string {
	t.Helper()
	const (
		sdk   = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
		types = sdk + "/types"
	)
	// Items of a transaction: authorised by the item-level action.
	setUp := map[string]bool{"CreateTable": true, "TableInput": true}
	items := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	set := map[string]bool{}
	parsed := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed++
		names := map[string]string{} // local import name → path
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(p)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			names[name] = p
		}
		for _, decl := range f.Decls {
			// The table's set-up (tests, a local table) is not what the
			// functions call: the template creates the table.
			if fd, ok := decl.(*ast.FuncDecl); ok && setUp[fd.Name.Name] {
				continue
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok {
					return true
				}
				switch names[x.Name] {
				case sdk:
					name := sel.Sel.Name
					op, isInput := strings.CutSuffix(name, "Input")
					if p, ok := strings.CutPrefix(name, "New"); ok && strings.HasSuffix(p, "Paginator") {
						op, isInput = strings.TrimSuffix(p, "Paginator"), true
					}
					if isInput && op != "" && op != "TransactWriteItems" && op != "TransactGetItems" {
						set["dynamodb:"+op] = true
					}
				case types:
					if a, ok := items[sel.Sel.Name]; ok {
						set["dynamodb:"+a] = true
					}
				}
				return true
			})
		}
	}
	if parsed == 0 {
		t.Fatalf("no Go code of the store in %s", dir)
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no DynamoDB operation found in %s", dir)
	}
	return out
}

// policyActions lists the Allow actions of a rendered IAM role or policy.
func policyActions(res map[string]any) []string {
	var docs []any
	if d := dig(res, "Properties", "PolicyDocument"); d != nil {
		docs = append(docs, d)
	}
	if ps, ok := dig(res, "Properties", "Policies").([]any); ok {
		for _, p := range ps {
			docs = append(docs, dig(p, "PolicyDocument"))
		}
	}
	var out []string
	for _, d := range docs {
		stmts, _ := dig(d, "Statement").([]any)
		for _, s := range stmts {
			switch a := dig(s, "Action").(type) {
			case string:
				out = append(out, a)
			case []any:
				for _, x := range a {
					out = append(out, fmt.Sprint(x))
				}
			}
		}
	}
	return out
}

// checkRefsResolve fails on a Ref, Fn::GetAtt or ${…} that names neither a
// parameter nor a resource of the rendered template (nor one SAM adds: a
// function's URL).
func checkRefsResolve(t *testing.T, r rendered) {
	t.Helper()
	known := map[string]bool{}
	for name := range r.Params {
		known[name] = true
	}
	for name, res := range r.Resources {
		known[name] = true
		if dig(res, "Properties", "FunctionUrlConfig") != nil {
			known[name+"Url"] = true
		}
	}
	for _, x := range []any{r.Resources, r.Outputs} {
		for _, name := range refs(x) {
			if !known[name] {
				t.Errorf("%s is referred to but does not exist with IdempotencyStore=%s", name, r.Params["IdempotencyStore"])
			}
		}
	}
}

// failedRules evaluates the template's Rules for r's parameters and returns
// the descriptions of the assertions that fail.
func failedRules(t *testing.T, tpl map[string]any, r rendered) []string {
	t.Helper()
	rules, _ := tpl["Rules"].(map[string]any)
	var failed []string
	for name, rule := range rules {
		sub := map[string]any{"Parameters": tpl["Parameters"], "Resources": map[string]any{}, "Outputs": map[string]any{},
			"Conditions": map[string]any{"applies": true, "ok": true}}
		if c := dig(rule, "RuleCondition"); c != nil {
			sub["Conditions"].(map[string]any)["applies"] = c
		}
		if !render(t, sub, r.Params).Conditions["applies"] {
			continue
		}
		asserts, _ := dig(rule, "Assertions").([]any)
		for _, a := range asserts {
			sub["Conditions"] = map[string]any{"ok": dig(a, "Assert")}
			if !render(t, sub, r.Params).Conditions["ok"] {
				failed = append(failed, fmt.Sprintf("%s: %v", name, dig(a, "AssertDescription")))
			}
		}
	}
	return failed
}

// TestRenderedTemplatesPassCfnLint: the template as each IdempotencyStore
// value makes it (conditions resolved, see render) passes cfn-lint, in the
// same run that catches a rendering with a dangling reference.
func TestRenderedTemplatesPassCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint not found: it validates the SAM template offline (pip install cfn-lint)")
	}
	tpl := loadTemplate(t)
	dir := t.TempDir()
	write := func(name string, r rendered) string {
		doc := map[string]any{}
		for k, v := range tpl {
			doc[k] = v
		}
		doc["Resources"], doc["Outputs"] = r.Resources, r.Outputs
		delete(doc, "Conditions") // applied
		b, err := json.MarshalIndent(doc, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := map[string]string{}
	var files []string
	for store, params := range storeParams {
		good[store] = write(store+".json", render(t, tpl, params))
		files = append(files, good[store])
	}
	broken := render(t, tpl, storeParams["dynamodb"])
	delete(broken.Resources, "IdempotencyTable")
	files = append(files, write("dynamodb-without-table.json", broken))
	out, _ := exec.Command(lint, files...).CombinedOutput()
	report := string(out)
	for store, path := range good {
		if strings.Contains(report, path+":") {
			t.Errorf("cfn-lint finds problems in the template rendered for %s", store)
		}
	}
	if !strings.Contains(report, filepath.Join(dir, "dynamodb-without-table.json")+":") {
		t.Error("cfn-lint passed a rendering whose table is missing")
	}
	if t.Failed() {
		t.Logf("cfn-lint output:\n%s", report)
	}
}
