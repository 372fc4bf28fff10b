package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
)

// binPath is the CLI built once for the whole package, so the tests that
// matter most run the real binary with a clean environment.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gemini-webhooks-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gemini-webhooks")
	if out, err := exec.Command("go", "build", "-o", binPath, "github.com/geminiwebhooks/receiver/scripts/gemini-webhooks").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the program in-process with exactly env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

// runBinary runs the built binary with env plus PATH and a private HOME
// (so no developer's ~/.aws or API key leaks in).
func runBinary(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run binary: %v", err)
	}
	return result{code, out.String(), errb.String()}
}

func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("want exit 0, got %s", r)
	}
	return r
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// assertNoLeak fails if any 8-character window of the secret's key part
// appears in the outputs: not the secret, not a piece of it.
func assertNoLeak(t *testing.T, secret string, outputs ...string) {
	t.Helper()
	key := strings.TrimPrefix(secret, "whsec_")
	all := strings.Join(outputs, "\n")
	for i := 0; i+8 <= len(key); i++ {
		if w := key[i : i+8]; strings.Contains(all, w) {
			t.Fatalf("output contains part of the secret (%q at offset %d):\n%s", w, i, all)
		}
	}
}

func readSecretFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// dirEntries lists a folder, to prove no temp file was left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateStoresSecretInPrivateFileAndPrintsNoPartOfIt(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "webhook-secret")

	r := mustOK(t, runBinary(t, svc.env(), "create",
		"--uri", "https://receiver.example.com/gemini", "--events", "batch.completed,batch.failed,batch.failed",
		"--name", "prod", "--secret-out", "file:"+path))

	id := svc.onlyID()
	secret := svc.secrets(id)[0]
	if got := readSecretFile(t, path); got != secret {
		t.Fatalf("file holds a different value than Gemini's secret (lengths %d and %d)", len(got), len(secret))
	}
	if got := dirEntries(t, dir); len(got) != 1 || got[0] != "webhook-secret" {
		t.Fatalf("folder holds %v, want only the secret file (no temp file left)", got)
	}
	assertNoLeak(t, secret, r.stdout, r.stderr)

	h := svc.hook(id)
	if h.URI != "https://receiver.example.com/gemini" || h.Name != "prod" ||
		strings.Join(h.Events, ",") != "batch.succeeded,batch.failed" {
		t.Fatalf("Gemini got %+v; want the URI, the name, and the alias folded without repeats", h)
	}
	for _, want := range []string{id, "file:" + path, truncate(secret), "enabled"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	svc.mu.Lock()
	keys := append([]string(nil), svc.keysSeen...)
	svc.mu.Unlock()
	if len(keys) != 1 || keys[0] != svc.key {
		t.Fatalf("x-goog-api-key values sent: %q, want exactly [%q]", keys, svc.key)
	}
}

func TestCreateJSONPrintsNoSecret(t *testing.T) {
	svc := newWebhookService(t)
	path := filepath.Join(t.TempDir(), "s")
	r := mustOK(t, runCLI(t, svc.env(), "create", "--json", "--uri", "https://r.example.com/h",
		"--events", "video.generated", "--secret-out", "file:"+path))
	secret := svc.secrets(svc.onlyID())[0]
	assertNoLeak(t, secret, r.stdout, r.stderr)
	var got struct {
		Webhook   webhookView `json:"webhook"`
		Created   bool        `json:"created"`
		SecretOut string      `json:"secret_out"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if !got.Created || got.Webhook.ID != svc.onlyID() || got.SecretOut != "file:"+path || len(got.Webhook.SigningSecrets) != 1 {
		t.Fatalf("unexpected JSON: %+v", got)
	}
	if strings.Contains(r.stdout, "new_signing_secret") {
		t.Fatalf("JSON names the one-time secret field:\n%s", r.stdout)
	}
}

// TestCreateIfAbsentIsIdempotent is what lets a deploy script end with create.
func TestCreateIfAbsentIsIdempotent(t *testing.T) {
	svc := newWebhookService(t)
	path := filepath.Join(t.TempDir(), "s")
	args := []string{"create", "--if-absent", "--uri", "https://r.example.com/h", "--events", "batch.failed", "--secret-out", "file:" + path}
	mustOK(t, runCLI(t, svc.env(), args...))
	stored := readSecretFile(t, path)

	r := mustOK(t, runCLI(t, svc.env(), args...))
	if !strings.Contains(r.stdout, "already delivers to https://r.example.com/h") {
		t.Fatalf("second create --if-absent: %s", r)
	}
	if n := svc.callsMatching("POST /v1beta/webhooks"); n != 1 {
		t.Fatalf("create was sent %d times, want 1", n)
	}
	if readSecretFile(t, path) != stored {
		t.Fatal("the stored secret changed although nothing was created")
	}
	// A different URI is still created.
	mustOK(t, runCLI(t, svc.env(), "create", "--if-absent", "--uri", "https://other.example.com/h", "--events", "batch.failed",
		"--secret-out", "file:"+path+"2"))
	if n := svc.callsMatching("POST /v1beta/webhooks"); n != 2 {
		t.Fatalf("create was sent %d times, want 2", n)
	}
}

// TestCreateIfAbsentUpdatesEvents: run again with another list, create
// --if-absent sets the webhook's events to it (one PATCH of
// subscribed_events; before: "nothing created" and the old list kept),
// creates nothing, leaves the stored secret alone, and with the same list
// in another order sends no PATCH.
func TestCreateIfAbsentUpdatesEvents(t *testing.T) {
	svc := newWebhookService(t)
	path := filepath.Join(t.TempDir(), "s")
	create := func(events string, extra ...string) result {
		return mustOK(t, runCLI(t, svc.env(), append([]string{"create", "--if-absent", "--uri", "https://r.example.com/h",
			"--events", events, "--secret-out", "file:" + path}, extra...)...))
	}
	create("batch.succeeded,batch.failed")
	id, stored := svc.onlyID(), readSecretFile(t, path)

	all := strings.Join(core.EventTypes, ",")
	cases := []struct {
		name, events string
		want         []string // the webhook's events afterwards
		patches      int      // PATCHes sent in all so far
		out          string
	}{
		{"a longer list", "batch.succeeded,batch.failed,interaction.requires_action", []string{"batch.succeeded", "batch.failed", "interaction.requires_action"}, 1,
			"its events are now batch.succeeded,batch.failed,interaction.requires_action (were batch.succeeded,batch.failed)"},
		{"the same list in another order", "interaction.requires_action,batch.failed,batch.completed", []string{"batch.succeeded", "batch.failed", "interaction.requires_action"}, 1,
			"already delivers to https://r.example.com/h with these events; nothing created"},
		{"all nine", all, core.EventTypes, 2, "its events are now " + all},
		{"a shorter list", "video.generated", []string{"video.generated"}, 3, "its events are now video.generated"},
	}
	for _, c := range cases {
		r := create(c.events)
		if !strings.Contains(r.stdout, c.out) || !strings.Contains(r.stdout, "nothing created") {
			t.Errorf("%s: stdout lacks %q:\n%s", c.name, c.out, r.stdout)
		}
		if got := svc.hook(id).Events; strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: the webhook's events are %v, want %v", c.name, got, c.want)
		}
		if n := svc.callsMatching("PATCH /v1beta/webhooks/" + id + "?update_mask=subscribed_events"); n != c.patches {
			t.Errorf("%s: %d PATCHes of subscribed_events, want %d", c.name, n, c.patches)
		}
	}
	if n := svc.callsMatching("POST /v1beta/webhooks"); n != 1 {
		t.Errorf("create was sent %d times, want 1", n)
	}
	if readSecretFile(t, path) != stored {
		t.Error("the stored secret changed although nothing was created")
	}
	if h := svc.hook(id); h.URI != "https://r.example.com/h" || len(h.Secrets) != 1 {
		t.Errorf("the update touched more than the events: %+v", h)
	}

	// --json says whether the events changed.
	var got struct {
		Webhook       webhookView `json:"webhook"`
		Created       bool        `json:"created"`
		EventsUpdated bool        `json:"events_updated"`
	}
	r := create("batch.expired", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if got.Created || !got.EventsUpdated || strings.Join(got.Webhook.SubscribedEvents, ",") != "batch.expired" {
		t.Errorf("--json after an update: %+v", got)
	}
}

func TestWrongAPIKeyFailsAndLeavesNothing(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	env := merge(svc.env(), map[string]string{"GEMINI_API_KEY": "not-the-key"})
	r := runBinary(t, env, "create", "--uri", "https://r.example.com/h", "--events", "batch.succeeded",
		"--secret-out", "file:"+filepath.Join(dir, "s"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "API key not valid") {
		t.Fatalf("want exit 1 with the API's 401 message, got %s", r)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Fatalf("folder holds %v after a failed create, want nothing", got)
	}
	if strings.Contains(r.stderr, "not-the-key") {
		t.Fatalf("stderr shows the API key:\n%s", r.stderr)
	}
}

func TestBadInputFailsBeforeAnyCall(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	out := "file:" + filepath.Join(dir, "s")
	okURI := "https://r.example.com/h"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown event", nil, []string{"create", "--uri", okURI, "--events", "batch.succeeded,batch.done", "--secret-out", out}, `unknown event type "batch.done"`},
		{"no events", nil, []string{"create", "--uri", okURI, "--events", " ", "--secret-out", out}, "--events: none given"},
		{"empty event in list", nil, []string{"create", "--uri", okURI, "--events", "batch.failed,,", "--secret-out", out}, "empty name"},
		{"relative URI", nil, []string{"create", "--uri", "/gemini", "--events", "batch.failed", "--secret-out", out}, "absolute https"},
		{"no URI", nil, []string{"create", "--events", "batch.failed", "--secret-out", out}, "--uri: required"},
		{"plain http to a public host", nil, []string{"create", "--uri", "http://r.example.com/h", "--events", "batch.failed", "--secret-out", out}, "loopback"},
		{"ftp URI", nil, []string{"create", "--uri", "ftp://r.example.com/h", "--events", "batch.failed", "--secret-out", out}, "must be https"},
		{"credentials in URI", nil, []string{"create", "--uri", "https://u:p@r.example.com/h", "--events", "batch.failed", "--secret-out", out}, "user:password"},
		{"missing --secret-out", nil, []string{"create", "--uri", okURI, "--events", "batch.failed"}, "--secret-out: required"},
		{"unknown destination kind", nil, []string{"create", "--uri", okURI, "--events", "batch.failed", "--secret-out", "vault:x"}, "unknown kind"},
		{"malformed gcp destination", nil, []string{"create", "--uri", okURI, "--events", "batch.failed", "--secret-out", "gcp-secret:my-secret"}, "projects/PROJECT/secrets/NAME"},
		{"no API key", map[string]string{"GEMINI_API_KEY": ""}, []string{"create", "--uri", okURI, "--events", "batch.failed", "--secret-out", out}, "GEMINI_API_KEY"},
		{"plaintext API endpoint", map[string]string{"GOOGLE_GEMINI_BASE_URL": "http://gemini.example.com"}, []string{"list"}, "GOOGLE_GEMINI_BASE_URL"},
		{"get without id", nil, []string{"get"}, "--id: required"},
		{"id with a path", nil, []string{"delete", "--id", "../x"}, "not a webhook id"},
		{"rotate bad revoke", nil, []string{"rotate", "--id", "wh1", "--revoke", "later", "--secret-out", out}, "--revoke"},
		{"rotate without destination", nil, []string{"rotate", "--id", "wh1"}, "--secret-out: required"},
		{"append with immediate revoke", nil, []string{"rotate", "--id", "wh1", "--revoke", "immediately", "--append", "--secret-out", out}, "--append"},
		{"update with nothing", nil, []string{"update", "--id", "wh1"}, "nothing to update"},
		{"update bad state", nil, []string{"update", "--id", "wh1", "--state", "paused"}, "--state"},
		{"update unknown event", nil, []string{"update", "--id", "wh1", "--events", "nope"}, "unknown event type"},
		{"unknown flag", nil, []string{"list", "--all"}, "flag provided but not defined"},
		{"stray argument", nil, []string{"get", "--id", "wh1", "extra"}, "unexpected argument"},
		{"unknown command", nil, []string{"register"}, "unknown command"},
		{"no command", nil, nil, "Commands:"},
		{"finish-rotation without destination", nil, []string{"finish-rotation"}, "--secret-out: required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, merge(svc.env(), c.env), c.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
				t.Fatalf("want exit 2, nothing on stdout and %q on stderr; got %s", c.want, r)
			}
			if n := svc.callCount(); n != 0 {
				t.Fatalf("the stand-in saw %d calls; bad input must call nothing", n)
			}
			if got := dirEntries(t, dir); len(got) != 0 {
				t.Fatalf("folder holds %v", got)
			}
		})
	}
	// The same through the real binary, once.
	r := runBinary(t, svc.env(), "create", "--uri", "gemini", "--events", "batch.failed", "--secret-out", out)
	if r.code != exitUsage || !strings.Contains(r.stderr, "absolute https") || svc.callCount() != 0 {
		t.Fatalf("binary: want exit 2 and no call, got %s (calls %d)", r, svc.callCount())
	}
}

func TestUnwritableDestinationIsFoundBeforeCreate(t *testing.T) {
	svc := newWebhookService(t)
	r := runCLI(t, svc.env(), "create", "--uri", "https://r.example.com/h", "--events", "batch.failed",
		"--secret-out", "file:"+filepath.Join(t.TempDir(), "missing-dir", "s"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "cannot write beside") {
		t.Fatalf("want exit 1 naming the destination, got %s", r)
	}
	if n := svc.callCount(); n != 0 {
		t.Fatalf("create was called (%d calls) although its secret could not have been stored", n)
	}
}

func TestAppendRefusesAMalformedExistingValueWithoutShowingIt(t *testing.T) {
	svc := newWebhookService(t)
	path := filepath.Join(t.TempDir(), "s")
	junk := "whsec_thisIsNotBase64!!,hunter2-password"
	if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, svc.env(), "create", "--uri", "https://r.example.com/h", "--events", "batch.failed",
		"--append", "--secret-out", "file:"+path)
	if r.code != exitFailure || !strings.Contains(r.stderr, "secret 1 of 2") {
		t.Fatalf("want exit 1 naming the bad entry by position, got %s", r)
	}
	if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stderr, "thisIsNot") {
		t.Fatalf("stderr shows the stored value:\n%s", r.stderr)
	}
	if svc.callCount() != 0 {
		t.Fatal("create was called although the destination could not be appended to")
	}
	if b, _ := os.ReadFile(path); string(b) != junk {
		t.Fatal("the existing value was changed")
	}
}

func TestCreateIsNotRetriedButReadsAre(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	svc.failOnce("create", 503)
	r := runCLI(t, svc.env(), "create", "--uri", "https://r.example.com/h", "--events", "batch.failed",
		"--secret-out", "file:"+filepath.Join(dir, "s"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "503") {
		t.Fatalf("want exit 1 with the 503, got %s", r)
	}
	if n := svc.callsMatching("POST /v1beta/webhooks"); n != 1 {
		t.Fatalf("create was sent %d times; a blind retry can register a webhook whose secret nobody holds", n)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Fatalf("folder holds %v after a failed create (temp file left?)", got)
	}
	// A read is safe to retry: the SDK's default policy applies.
	svc.failOnce("list", 503)
	mustOK(t, runCLI(t, svc.env(), "list"))
	if n := svc.callsMatching("GET /v1beta/webhooks"); n != 2 {
		t.Fatalf("list was sent %d times, want 2 (one failure, one retry)", n)
	}
}

func TestListAndGetShowStateURIEventsAndSecrets(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	uris := []string{"https://a.example.com/h", "https://b.example.com/h", "http://127.0.0.1:9/h"}
	for i, u := range uris {
		mustOK(t, runCLI(t, svc.env(), "create", "--uri", u, "--events", "batch.succeeded,interaction.completed",
			"--secret-out", fmt.Sprintf("file:%s/s%d", dir, i)))
	}
	// Give the first webhook a rotation so it lists an expiring secret.
	mustOK(t, runCLI(t, svc.env(), "rotate", "--id", "wh0001", "--secret-out", "file:"+dir+"/s0"))
	old := svc.hook("wh0001").Secrets[1]

	r := mustOK(t, runCLI(t, svc.env(), "list"))
	if n := svc.callsMatching("GET /v1beta/webhooks?"); n != 1 {
		t.Fatalf("want a second page fetched with page_token (page size 2, 3 webhooks); saw %d paged calls", n)
	}
	for _, id := range []string{"wh0001", "wh0002", "wh0003"} {
		h := svc.hook(id)
		for _, want := range []string{"webhook " + id, h.URI, "batch.succeeded, interaction.completed", truncate(h.Secrets[0].value)} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("list lacks %q:\n%s", want, r.stdout)
			}
		}
	}
	if !strings.Contains(r.stdout, truncate(old.value)+"  expires "+old.expire.Format(time.RFC3339)) {
		t.Errorf("list does not show the previous secret's expiry:\n%s", r.stdout)
	}
	if strings.Count(r.stdout, "enabled") != 3 {
		t.Errorf("list should show 3 enabled webhooks:\n%s", r.stdout)
	}

	r = mustOK(t, runCLI(t, svc.env(), "list", "--json"))
	var lj struct{ Webhooks []webhookView }
	if err := json.Unmarshal([]byte(r.stdout), &lj); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if len(lj.Webhooks) != 3 || lj.Webhooks[0].ID != "wh0001" || len(lj.Webhooks[0].SigningSecrets) != 2 ||
		lj.Webhooks[0].SigningSecrets[1].ExpireTime == nil || !lj.Webhooks[0].SigningSecrets[1].ExpireTime.Equal(*old.expire) ||
		lj.Webhooks[0].SigningSecrets[0].ExpireTime != nil || lj.Webhooks[2].URI != uris[2] {
		t.Fatalf("list --json: %+v", lj)
	}

	r = mustOK(t, runCLI(t, svc.env(), "get", "--id", "wh0002"))
	if !strings.Contains(r.stdout, "webhook wh0002") || !strings.Contains(r.stdout, uris[1]) ||
		!strings.Contains(r.stdout, "state    enabled") || !strings.Contains(r.stdout, "no expiry") {
		t.Fatalf("get:\n%s", r.stdout)
	}
	r = mustOK(t, runCLI(t, svc.env(), "get", "--id", "wh0001", "--json"))
	var gj webhookView
	if err := json.Unmarshal([]byte(r.stdout), &gj); err != nil || gj.State != "enabled" ||
		gj.SigningSecrets[0].TruncatedSecret != truncate(svc.secrets("wh0001")[0]) {
		t.Fatalf("get --json (%v): %s", err, r.stdout)
	}
}

func TestUpdateSendsOnlyTheChangedFields(t *testing.T) {
	svc := newWebhookService(t)
	mustOK(t, runCLI(t, svc.env(), "create", "--uri", "https://a.example.com/h", "--events", "batch.succeeded",
		"--name", "keep-me", "--secret-out", "file:"+filepath.Join(t.TempDir(), "s")))
	r := mustOK(t, runCLI(t, svc.env(), "update", "--id", "wh0001", "--state", "disabled",
		"--events", "video.generated,batch.failed", "--uri", "https://b.example.com/h"))
	h := svc.hook("wh0001")
	if h.State != "disabled" || h.URI != "https://b.example.com/h" || strings.Join(h.Events, ",") != "video.generated,batch.failed" || h.Name != "keep-me" {
		t.Fatalf("after update Gemini holds %+v", h)
	}
	if !strings.Contains(r.stdout, "state    disabled") {
		t.Fatalf("update output:\n%s", r.stdout)
	}
	if n := svc.callsMatching("PATCH /v1beta/webhooks/wh0001?update_mask=uri%2Csubscribed_events%2Cstate"); n != 1 {
		t.Fatalf("want one PATCH with update_mask uri,subscribed_events,state; calls: %v", svc.calls)
	}
}

func TestRotateStoresTheNewSecret(t *testing.T) {
	svc := newWebhookService(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	mustOK(t, runCLI(t, svc.env(), "create", "--uri", "https://a.example.com/h", "--events", "batch.succeeded", "--secret-out", "file:"+path))
	first := readSecretFile(t, path)

	r := mustOK(t, runBinary(t, svc.env(), "rotate", "--id", "wh0001", "--secret-out", "file:"+path))
	secrets := svc.secrets("wh0001")
	if len(secrets) != 2 || secrets[1] != first {
		t.Fatalf("after rotate --revoke after-24h Gemini should hold new and previous; holds %d", len(secrets))
	}
	if got := readSecretFile(t, path); got != secrets[0] {
		t.Fatal("the file does not hold the new secret")
	}
	if n := svc.callsMatching("POST /v1beta/webhooks/wh0001:rotateSigningSecret"); n != 1 {
		t.Fatalf("rotate sent %d times", n)
	}
	assertNoLeak(t, secrets[0], r.stdout, r.stderr)
	assertNoLeak(t, first, r.stdout, r.stderr)
	if got := dirEntries(t, dir); len(got) != 1 {
		t.Fatalf("folder holds %v", got)
	}

	mustOK(t, runCLI(t, svc.env(), "rotate", "--id", "wh0001", "--revoke", "immediately", "--secret-out", "file:"+path))
	secrets = svc.secrets("wh0001")
	if len(secrets) != 1 || readSecretFile(t, path) != secrets[0] {
		t.Fatalf("after rotate --revoke immediately Gemini holds %d secrets; the file must hold the only one", len(secrets))
	}
}

func TestPingAndDelete(t *testing.T) {
	svc := newWebhookService(t)
	mustOK(t, runCLI(t, svc.env(), "create", "--uri", "https://a.example.com/h", "--events", "batch.succeeded",
		"--secret-out", "file:"+filepath.Join(t.TempDir(), "s")))

	r := mustOK(t, runCLI(t, svc.env(), "ping", "--id", "wh0001"))
	svc.mu.Lock()
	pings := svc.pings["wh0001"]
	svc.mu.Unlock()
	if pings != 1 || !strings.Contains(r.stdout, "wh0001") {
		t.Fatalf("pings %d, output %s", pings, r)
	}
	r = runCLI(t, svc.env(), "ping", "--id", "wh9999")
	if r.code != exitFailure || !strings.Contains(r.stderr, "404") || !strings.Contains(r.stderr, "wh9999 not found") {
		t.Fatalf("ping of a missing webhook: %s", r)
	}

	r = mustOK(t, runBinary(t, svc.env(), "delete", "--id", "wh0001", "--json"))
	var dj map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &dj); err != nil || dj["deleted"] != "wh0001" {
		t.Fatalf("delete --json (%v): %s", err, r.stdout)
	}
	r = runCLI(t, svc.env(), "get", "--id", "wh0001")
	if r.code != exitFailure || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Fatalf("get after delete: %s", r)
	}
	if r := mustOK(t, runCLI(t, svc.env(), "list")); strings.TrimSpace(r.stdout) != "no webhooks" {
		t.Fatalf("list after delete: %s", r)
	}
}

func TestHelpExitsZero(t *testing.T) {
	r := runCLI(t, nil, "create", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "-secret-out") {
		t.Fatalf("create --help: %s", r)
	}
}
