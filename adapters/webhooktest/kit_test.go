package webhooktest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/adapters/webhooktest"
	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/jobs"
)

// Every builder's event goes through the whole pipeline: verified, claimed,
// recorded in the ledger with the state the event reports, landed when it
// is a finished batch or video, and handed to the handler once; its
// redelivery is a duplicate that runs nothing.
func TestNineTypesThroughThePipeline(t *testing.T) {
	for _, tc := range []struct {
		ev     webhooktest.Event
		state  jobs.JobState
		landed bool
	}{
		{webhooktest.BatchSucceeded(""), jobs.JobSucceeded, true},
		{webhooktest.BatchCompleted(""), jobs.JobSucceeded, true},
		{webhooktest.BatchCancelled(""), jobs.JobCancelled, false},
		{webhooktest.BatchExpired(""), jobs.JobExpired, false},
		{webhooktest.BatchFailed("", "", ""), jobs.JobFailed, false},
		{webhooktest.InteractionRequiresAction(""), jobs.JobRequiresAction, false},
		{webhooktest.InteractionCompleted(""), jobs.JobSucceeded, false},
		{webhooktest.InteractionFailed("", "", ""), jobs.JobFailed, false},
		{webhooktest.InteractionCancelled(""), jobs.JobCancelled, false},
		{webhooktest.VideoGenerated(""), jobs.JobSucceeded, true},
	} {
		t.Run(tc.ev.Type, func(t *testing.T) {
			var seen []string
			mux := core.NewMux().Default(func(ctx context.Context, ev *core.Event) error {
				seen = append(seen, ev.OriginalType)
				return nil
			})
			if core.KnownEventType(tc.ev.Type) {
				mux.On(tc.ev.Type, func(ctx context.Context, ev *core.Event) error {
					seen = append(seen, ev.OriginalType)
					return nil
				})
			}
			k := webhooktest.New(t, mux)
			res := k.Deliver(tc.ev)
			if res.Status != http.StatusOK || res.Outcome != "processed" || !res.Ran || res.Err != nil {
				t.Fatalf("delivery: %+v, want 200 processed with the handler run", res)
			}
			if len(seen) != 1 || seen[0] != tc.ev.Type {
				t.Fatalf("handler saw %v, want one %s", seen, tc.ev.Type)
			}
			j, err := k.Job(tc.ev.JobID)
			if err != nil || j == nil || j.State != tc.state {
				t.Fatalf("ledger %+v (%v), want %s", j, err, tc.state)
			}
			l, err := k.Landed(tc.ev.JobID)
			if tc.landed != (err == nil) {
				t.Fatalf("landed %+v, %v; want landed=%v", l, err, tc.landed)
			}
			if tc.landed {
				b, err := os.ReadFile(l.Path)
				if err != nil || int64(len(b)) != l.Bytes || l.Bytes == 0 {
					t.Fatalf("landed file %s: %d bytes (%v), manifest says %d", l.Path, len(b), err, l.Bytes)
				}
			} else if !errors.Is(err, webhooktest.ErrNotLanded) {
				t.Fatalf("not landed: %v, want ErrNotLanded", err)
			}
			if dup := k.Deliver(tc.ev); dup.Status != http.StatusOK || dup.Outcome != "duplicate" || dup.Ran {
				t.Fatalf("redelivery: %+v, want 200 duplicate, no handler run", dup)
			}
			if n := len(k.Runs()); n != 1 {
				t.Fatalf("%d handler runs, want 1", n)
			}
		})
	}
}

// A batch.succeeded lands exactly what the stand-in serves for the batch.
func TestLandedIsWhatTheAPIServes(t *testing.T) {
	k := webhooktest.New(t, nil)
	ev := webhooktest.BatchSucceeded("batches/kit-landing")
	if res := k.Deliver(ev); res.Status != http.StatusOK {
		t.Fatalf("%+v", res)
	}
	l, err := k.Landed(ev.JobID)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := k.API.FileOf(geminitest.AutoOutput(ev.JobID))
	if !ok {
		t.Fatal("the stand-in served no output")
	}
	want := geminitest.Expect(f)
	if l.Bytes != want.Bytes || l.SHA256 != want.SHA256 || l.Lines != want.Lines || l.FailedLines != want.FailedLines {
		t.Fatalf("landed %+v, want %+v", l.Manifest, want)
	}
	if n := k.API.Downloads(f.Name); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
}

// A handler error answers 500 and releases the claim; Gemini's retry of the
// same delivery runs the handler again and succeeds, and the batch was
// downloaded once.
func TestHandlerErrorIsRetried(t *testing.T) {
	fail := true
	mux := core.NewMux().On(core.BatchSucceeded, func(ctx context.Context, ev *core.Event) error {
		if fail {
			fail = false
			return errors.New("database down")
		}
		return nil
	})
	k := webhooktest.New(t, mux)
	ev := webhooktest.BatchSucceeded("")
	if res := k.Deliver(ev); res.Status != http.StatusInternalServerError || !res.Ran || res.Err == nil {
		t.Fatalf("first attempt: %+v, want 500 with the handler's error", res)
	}
	if res := k.Deliver(ev); res.Status != http.StatusOK || !res.Ran || res.Err != nil {
		t.Fatalf("retry: %+v, want 200", res)
	}
	if n := k.API.Downloads(geminitest.AutoOutput(ev.JobID)); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
}

// Signatures: the kit's secret is accepted; another secret, a tampered
// body, or no signature are refused before anything runs; a dynamic
// delivery with the kit's token signer is accepted.
func TestSchemes(t *testing.T) {
	k := webhooktest.New(t, core.NewMux().Default(func(context.Context, *core.Event) error { return nil }), webhooktest.Dynamic("https://receiver.example/hook"))
	ev := webhooktest.InteractionCompleted("").WithUserMetadata(map[string]any{"job_group": "nightly"})
	if res := k.DeliverWith(k.JWT, ev); res.Status != http.StatusOK || !res.Ran {
		t.Fatalf("dynamic: %+v", res)
	}
	if res := k.DeliverWith(webhooktest.Static(webhooktest.NewSecret()), webhooktest.BatchExpired("")); res.Status != http.StatusUnauthorized || res.Ran {
		t.Fatalf("wrong secret: %+v, want 401", res)
	}
	other, err := webhooktest.NewJWTSigner(context.Background(), "someone-else")
	if err != nil {
		t.Fatal(err)
	}
	if res := k.DeliverWith(other, webhooktest.BatchExpired("")); res.Status != http.StatusUnauthorized || res.Ran {
		t.Fatalf("foreign token: %+v, want 401", res)
	}
	j, err := k.Job(ev.JobID)
	if err != nil || j == nil || j.UserMetadata["job_group"] != "nightly" {
		t.Fatalf("job %+v (%v): user_metadata not recorded", j, err)
	}
}

// NewRequest makes the request Gemini sends, for a server of the test's
// own: here the kit's receiver behind httptest, over real HTTP.
func TestNewRequestOverHTTP(t *testing.T) {
	k := webhooktest.New(t, nil)
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		signer webhooktest.Signer
		want   int
	}{
		{webhooktest.Static(k.Secret), http.StatusOK},
		{webhooktest.Static(webhooktest.NewSecret() + "," + k.Secret), http.StatusOK}, // a rotation: either matches
		{webhooktest.Static(webhooktest.NewSecret()), http.StatusUnauthorized},
	} {
		resp, err := http.DefaultClient.Do(webhooktest.NewRequest(t, srv.URL, tc.signer, webhooktest.BatchCancelled("")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
		}
	}
}
