package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	cases := []struct {
		in       string
		want     string // comma-joined events, or "" when an error is expected
		unlisted string
		errHas   string
	}{
		{in: "batch.succeeded", want: "batch.succeeded"},
		{in: " batch.failed , video.generated ", want: "batch.failed,video.generated"},
		{in: "batch.completed", want: "batch.succeeded"},
		{in: "batch.completed,batch.succeeded", want: "batch.succeeded"},
		{in: "batch.cancelled,interaction.cancelled", want: "batch.cancelled,interaction.cancelled", unlisted: "batch.cancelled,interaction.cancelled"},
		{in: "batch.succeeded,Batch.Failed", errHas: `"Batch.Failed"`},
		{in: "batch.*", errHas: "unknown event type"},
		{in: "", errHas: "none given"},
		{in: "batch.failed,", errHas: "empty name"},
	}
	for _, c := range cases {
		got, unlisted, err := parseEvents(c.in)
		if c.errHas != "" {
			var ue *usageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("parseEvents(%q) = %v, %v; want a usage error containing %q", c.in, got, err, c.errHas)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want || strings.Join(unlisted, ",") != c.unlisted {
			t.Errorf("parseEvents(%q) = %v, %v, %v; want %s (unlisted %q)", c.in, got, unlisted, err, c.want, c.unlisted)
		}
	}
}

func TestCheckURI(t *testing.T) {
	cases := []struct {
		uri string
		ok  bool
	}{
		{"https://receiver.example.com/gemini", true},
		{"https://europe-west1-p.cloudfunctions.net/GeminiWebhook", true},
		{"HTTPS://abc.lambda-url.us-east-1.on.aws/", true},
		{"http://127.0.0.1:8080/", true},
		{"http://localhost:8080/hook", true},
		{"http://[::1]:8080/", true},
		{"http://10.0.0.1/", false},
		{"http://receiver.example.com/", false},
		{"/relative", false},
		{"receiver.example.com/gemini", false},
		{"https:///no-host", false},
		{"https://user:pw@receiver.example.com/", false},
		{"https://receiver.example.com/#frag", false},
		{"ws://receiver.example.com/", false},
		{"", false},
		{"https://bad host/", false},
	}
	for _, c := range cases {
		err := checkURI(c.uri)
		if (err == nil) != c.ok {
			t.Errorf("checkURI(%q) = %v, want ok=%v", c.uri, err, c.ok)
		}
	}
}

func TestParseDest(t *testing.T) {
	cases := []struct {
		in, kind, target string
	}{
		{"file:secret.txt", "file", "secret.txt"},
		{"file:/run/secrets/a:b", "file", "/run/secrets/a:b"},
		{"gcp-secret:projects/p-1/secrets/gemini-webhook-signing-secret", "gcp-secret", "projects/p-1/secrets/gemini-webhook-signing-secret"},
		{"aws-secret:gemini/webhook-signing-secret", "aws-secret", "gemini/webhook-signing-secret"},
		{"aws-secret:arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf", "aws-secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"},
		{"", "", ""},
		{"file:", "", ""},
		{"secret.txt", "", ""},
		{"gcp-secret:projects/p/secrets/", "", ""},
		{"gcp-secret:projects/p/secrets/s/versions/1", "", ""},
		{"aws-secret:has space", "", ""},
		{"s3:bucket/key", "", ""},
	}
	for _, c := range cases {
		d, err := parseDest(c.in)
		if c.kind == "" {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Errorf("parseDest(%q) = %v, %v; want a usage error", c.in, d, err)
			}
			continue
		}
		if err != nil || d.kind != c.kind || d.target != c.target {
			t.Errorf("parseDest(%q) = %+v, %v", c.in, d, err)
		}
	}
}

func TestJoinSecretsNewestFirstWithoutRepeats(t *testing.T) {
	cases := []struct {
		newest string
		older  []string
		want   string
	}{
		{"n", nil, "n"},
		{"n", []string{"o"}, "n,o"},
		{"n", []string{"o1", "n", "o2"}, "n,o1,o2"},
	}
	for _, c := range cases {
		if got := joinSecrets(c.newest, c.older); got != c.want {
			t.Errorf("joinSecrets(%q, %q) = %q, want %q", c.newest, c.older, got, c.want)
		}
	}
}

func TestLiveSecrets(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(23*time.Hour)
	cases := []struct {
		secrets []secretSummary
		want    int
	}{
		{[]secretSummary{{TruncatedSecret: "a"}}, 1},
		{[]secretSummary{{TruncatedSecret: "a"}, {TruncatedSecret: "b", ExpireTime: &future}}, 2},
		{[]secretSummary{{TruncatedSecret: "a"}, {TruncatedSecret: "b", ExpireTime: &past}}, 1},
		{nil, 0},
	}
	for i, c := range cases {
		if got, _ := liveSecrets(webhookView{SigningSecrets: c.secrets}, now); got != c.want {
			t.Errorf("case %d: %d live, want %d", i, got, c.want)
		}
	}
}

func TestHoursMinutes(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                  "24h00m",
		23*time.Hour + 59*time.Minute:   "23h59m",
		5 * time.Minute:                 "5m",
		49*time.Hour + 1*time.Minute:    "49h01m",
		0:                               "0m",
		90*time.Minute + 30*time.Second: "1h30m",
	} {
		if got := hoursMinutes(d); got != want {
			t.Errorf("hoursMinutes(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestFileSinkReplacesWithPrivateFileAndCleansUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Prepared then abandoned (an API error): no temp file remains, the old value stays.
	f := newFileSink(path)
	if cur, err := f.Prepare(ctx, true); err != nil || cur != "old" {
		t.Fatalf("Prepare = %q, %v", cur, err)
	}
	if len(dirEntries(t, dir)) != 2 {
		t.Fatalf("Prepare should have made its temp file: %v", dirEntries(t, dir))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); len(got) != 1 {
		t.Fatalf("after Close the folder holds %v", got)
	}

	// Written: the world-readable file is replaced by a 0600 one.
	f = newFileSink(path)
	if _, err := f.Prepare(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readSecretFile(t, path); got != "new" {
		t.Fatalf("file holds %q", got)
	}
	if got := dirEntries(t, dir); len(got) != 1 {
		t.Fatalf("after Put the folder holds %v", got)
	}

	if _, err := newFileSink(dir).Prepare(ctx, false); err == nil {
		t.Fatal("a directory as destination must be refused")
	}
}
