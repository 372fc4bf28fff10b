package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/verify"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
	"github.com/geminiwebhooks/receiver/scripts/testenv"
)

// Cross-language check with the reference implementation, npm
// standardwebhooks@1.1.1 (installed by scripts/test.sh): Node signs and
// core verifies; the simulator and the Go library sign and Node verifies.
// Each direction includes deliveries that must fail.

const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// A body whose bytes are not ASCII: a library that re-encoded it would fail.
var unicodeBody = []byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/ü","error_code":3,"error_message":"Échec: 失敗 🚫\u2028"}}`)

func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// node runs scripts/node/crosscheck.mjs in mode with cases and returns its results.
func node[C any](t *testing.T, mode string, cases []C) []map[string]any {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "scripts", "node")
	pkg, err := os.ReadFile(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json"))
	if err != nil {
		t.Fatalf("standardwebhooks is not installed in scripts/node: run scripts/test.sh (it runs npm ci --prefix scripts/node): %v", err)
	}
	var meta struct{ Version string }
	if json.Unmarshal(pkg, &meta) != nil || meta.Version != "1.1.1" {
		t.Fatalf("scripts/node has standardwebhooks %q, want 1.1.1: run scripts/test.sh", meta.Version)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: Node.js 20 is required for the cross-language check")
	}
	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "crosscheck.mjs"), mode)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node crosscheck.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	var res struct{ Results []map[string]any }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if len(res.Results) != len(cases) {
		t.Fatalf("node answered %d results for %d cases", len(res.Results), len(cases))
	}
	return res.Results
}

// Node signs, core/verify verifies (headers in Gemini's lower case).
func TestCrossLangNodeSignsGoVerifies(t *testing.T) {
	oldSecret, newSec, foreign := newSecret(t), newSecret(t), newSecret(t)
	now := time.Now()

	type nodeSign struct {
		Secret     string `json:"secret"`
		ID         string `json:"id"`
		Timestamp  int64  `json:"timestamp"`
		PayloadB64 string `json:"payload_b64"`
	}
	type check struct {
		name    string
		sign    nodeSign
		body    []byte // what the receiver gets; the signed payload unless tampered
		secrets []string
		now     time.Time
		wantErr error
	}
	var checks []check
	add := func(name, secret string, ts time.Time, body, received []byte, secrets []string, wantErr error) {
		checks = append(checks, check{name, nodeSign{secret, gemini.NewID(), ts.Unix(), base64.StdEncoding.EncodeToString(body)}, received, secrets, ts, wantErr})
	}
	vec := []byte(vectorBody)
	checks = append(checks, check{"shared vector",
		nodeSign{vectorSecret, vectorID, vectorTS, base64.StdEncoding.EncodeToString(vec)},
		vec, []string{vectorSecret}, time.Unix(vectorTS, 0), nil})
	for _, typ := range gemini.Catalogue {
		body := gemini.Payload(typ)
		add(typ, newSec, now, body, body, []string{newSec}, nil)
	}
	add("unicode body", newSec, now, unicodeBody, unicodeBody, []string{newSec}, nil)
	body := gemini.Payload("batch.succeeded")
	add("new secret during rotation", newSec, now, body, body, []string{oldSecret, newSec}, nil)
	add("old secret during rotation", oldSecret, now, body, body, []string{oldSecret, newSec}, nil)
	add("tampered body", newSec, now, body, gemini.TamperBody(body), []string{newSec}, core.ErrBadSignature)
	add("tampered unicode byte", newSec, now, unicodeBody, bytes.Replace(unicodeBody, []byte("ü"), []byte("u"), 1), []string{newSec}, core.ErrBadSignature)
	add("secret not configured", foreign, now, body, body, []string{oldSecret, newSec}, core.ErrBadSignature)

	signs := make([]nodeSign, len(checks))
	for i, c := range checks {
		signs[i] = c.sign
	}
	results := node(t, "sign", signs)
	for i, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			sig, _ := results[i]["signature"].(string)
			if sig == "" {
				t.Fatalf("node did not sign: %v", results[i])
			}
			if c.name == "shared vector" && sig != vectorSig {
				t.Fatalf("node signed the shared vector %q, want %q", sig, vectorSig)
			}
			v, err := verify.New(context.Background(), verify.Config{Secrets: c.secrets})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{ // not canonicalised: as Lambda and HTTP/2 deliver them
				"webhook-id":        {c.sign.ID},
				"webhook-timestamp": {strconv.FormatInt(c.sign.Timestamp, 10)},
				"webhook-signature": {sig},
			}
			d, err := v.Schemes().Verify(context.Background(), h, c.body, c.now)
			if c.wantErr == nil && (err != nil || d.ID != c.sign.ID) {
				t.Fatalf("core rejects node's signature: %v (id %q)", err, d.ID)
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("core answered %v, want %v", err, c.wantErr)
			}
		})
	}
}

// The simulator and the Go reference library sign, Node verifies.
func TestCrossLangGoSignsNodeVerifies(t *testing.T) {
	secret, other := newSecret(t), newSecret(t)
	now := time.Now()

	type nodeVerify struct {
		Secret     string            `json:"secret"`
		PayloadB64 string            `json:"payload_b64"`
		Headers    map[string]string `json:"headers"`
	}
	type check struct {
		name   string
		verify nodeVerify
		wantOK bool
	}
	lower := func(h http.Header) map[string]string {
		m := map[string]string{}
		for k := range h {
			m[strings.ToLower(k)] = h.Get(k)
		}
		return m
	}
	var checks []check
	simulator := func(name, signWith, verifyWith string, body, received []byte, wantOK bool) {
		h, err := gemini.SignStatic(signWith, gemini.NewID(), now, body)
		if err != nil {
			t.Fatal(err)
		}
		checks = append(checks, check{name, nodeVerify{verifyWith, base64.StdEncoding.EncodeToString(received), lower(h)}, wantOK})
	}
	for _, typ := range gemini.Catalogue {
		body := gemini.Payload(typ)
		simulator("simulator "+typ, secret, secret, body, body, true)
	}
	simulator("simulator unicode body", secret, secret, unicodeBody, unicodeBody, true)
	body := gemini.Payload("interaction.failed")
	simulator("simulator rotation, two signatures", other+","+secret, secret, body, body, true)
	simulator("simulator tampered body", secret, secret, body, gemini.TamperBody(body), false)
	simulator("simulator wrong secret", other, secret, body, body, false)

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	id := gemini.NewID()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	libHeaders := map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": sig}
	checks = append(checks,
		check{"go library", nodeVerify{secret, base64.StdEncoding.EncodeToString(body), libHeaders}, true},
		check{"go library tampered", nodeVerify{secret, base64.StdEncoding.EncodeToString(gemini.TamperBody(body)), libHeaders}, false},
	)

	verifies := make([]nodeVerify, len(checks))
	for i, c := range checks {
		verifies[i] = c.verify
	}
	results := node(t, "verify", verifies)
	for i, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if ok, _ := results[i]["ok"].(bool); ok != c.wantOK {
				t.Fatalf("node verify ok=%v (%v), want %v", ok, results[i]["error"], c.wantOK)
			}
		})
	}
}
