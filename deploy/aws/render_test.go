package aws

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A small CloudFormation evaluator for the tests: it reads template.yaml
// with its short-form intrinsics, and renders it for a set of parameter
// values as CloudFormation would before creating anything: conditions
// evaluated, resources and outputs whose condition is false dropped, Fn::If
// resolved and AWS::NoValue removed. cfn-lint checks every path of the
// conditions at once; this shows what each parameter value actually makes.

// loadTemplate parses the template into maps, lists and scalars, each
// short-form intrinsic (!Ref, !If, …) as its long form ({"Ref": …},
// {"Fn::If": …}, and {"Condition": name} for !Condition).
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	v, err := decodeNode(doc.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

func decodeNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := decodeNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := decodeNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		v = n.Value
		switch n.Tag {
		case "!!int", "!!float", "!!bool", "!!null":
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
		}
	case yaml.AliasNode:
		return decodeNode(n.Alias)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	switch name := tag[1:]; name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok { // !GetAtt A.B
			r, a, _ := strings.Cut(s, ".")
			v = []any{r, a}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

// rendered is the template as deployed with some parameter values.
type rendered struct {
	Params     map[string]string
	Conditions map[string]bool
	Resources  map[string]map[string]any
	Outputs    map[string]any
}

// render evaluates tpl with params on top of the parameters' defaults.
func render(t *testing.T, tpl map[string]any, params map[string]string) rendered {
	t.Helper()
	r := rendered{Params: map[string]string{}, Conditions: map[string]bool{}, Resources: map[string]map[string]any{}, Outputs: map[string]any{}}
	for name, p := range tpl["Parameters"].(map[string]any) {
		if d, ok := p.(map[string]any)["Default"].(string); ok {
			r.Params[name] = d
		}
	}
	for k, v := range params {
		r.Params[k] = v
	}
	conds, _ := tpl["Conditions"].(map[string]any)
	var cond func(name string, depth int) bool
	var eval func(x any, depth int) any
	cond = func(name string, depth int) bool {
		if v, ok := r.Conditions[name]; ok {
			return v
		}
		def, ok := conds[name]
		if !ok || depth > 20 {
			t.Fatalf("condition %s: not defined (or circular)", name)
		}
		b, ok := eval(def, depth+1).(bool)
		if !ok {
			t.Fatalf("condition %s is not a boolean: %v", name, def)
		}
		r.Conditions[name] = b
		return b
	}
	// eval resolves what a deployment resolves before it creates anything:
	// conditions, Fn::If, Refs to parameters; other intrinsics stay.
	eval = func(x any, depth int) any {
		switch x := x.(type) {
		case map[string]any:
			if len(x) == 1 {
				for k, v := range x {
					switch k {
					case "Condition":
						if s, ok := v.(string); ok {
							return cond(s, depth)
						}
					case "Ref":
						if p, ok := r.Params[v.(string)]; ok {
							return p
						}
					case "Fn::Equals":
						a := v.([]any)
						return fmt.Sprint(eval(a[0], depth)) == fmt.Sprint(eval(a[1], depth))
					case "Fn::Not":
						return !eval(v.([]any)[0], depth).(bool)
					case "Fn::And", "Fn::Or":
						and := k == "Fn::And"
						for _, c := range v.([]any) {
							if eval(c, depth).(bool) != and {
								return !and
							}
						}
						return and
					case "Fn::If":
						a := v.([]any)
						if cond(a[0].(string), depth) {
							return eval(a[1], depth)
						}
						return eval(a[2], depth)
					}
				}
			}
			out := map[string]any{}
			for k, v := range x {
				if e := eval(v, depth); !isNoValue(e) {
					out[k] = e
				}
			}
			return out
		case []any:
			out := []any{}
			for _, v := range x {
				if e := eval(v, depth); !isNoValue(e) {
					out = append(out, e)
				}
			}
			return out
		default:
			return x
		}
	}
	for name := range conds {
		cond(name, 0)
	}
	for name, res := range tpl["Resources"].(map[string]any) {
		m := res.(map[string]any)
		if c, ok := m["Condition"].(string); ok && !cond(c, 0) {
			continue
		}
		res := eval(m, 0).(map[string]any)
		delete(res, "Condition") // true: it has been applied
		r.Resources[name] = res
	}
	for name, out := range tpl["Outputs"].(map[string]any) {
		if c, ok := out.(map[string]any)["Condition"].(string); ok && !cond(c, 0) {
			continue
		}
		o := eval(out, 0).(map[string]any)
		delete(o, "Condition")
		r.Outputs[name] = o
	}
	return r
}

func isNoValue(x any) bool {
	m, ok := x.(map[string]any)
	return ok && len(m) == 1 && m["Ref"] == "AWS::NoValue"
}

// dig follows keys (map keys, or list indexes as "0", "1", …) into x.
func dig(x any, path ...string) any {
	for _, p := range path {
		switch v := x.(type) {
		case map[string]any:
			x = v[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(v) {
				return nil
			}
			x = v[i]
		default:
			return nil
		}
	}
	return x
}

// refs lists every resource a Ref, Fn::GetAtt or Fn::Sub names in x
// (parameters were resolved already; pseudo parameters are skipped).
func refs(x any) []string {
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if v, ok := x["Ref"].(string); ok && len(x) == 1 && !strings.HasPrefix(v, "AWS::") {
				out = append(out, v)
			}
			if v, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 {
				out = append(out, fmt.Sprint(v[0]))
			}
			if v, ok := x["Fn::Sub"]; ok && len(x) == 1 {
				s, _ := v.(string)
				if l, ok := v.([]any); ok {
					s, _ = l[0].(string)
				}
				for _, part := range strings.Split(s, "${")[1:] {
					name, _, _ := strings.Cut(part, "}")
					name, _, _ = strings.Cut(name, ".")
					if !strings.HasPrefix(name, "AWS::") && !strings.HasPrefix(name, "!") {
						out = append(out, name)
					}
				}
			}
			for _, v := range x {
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(x)
	sort.Strings(out)
	return out
}
