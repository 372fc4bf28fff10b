package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/geminiwebhooks/receiver/core"
)

// panicMessage runs f and returns what it panicked with ("" if it did not).
func panicMessage(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	f()
	return ""
}

func event(t *testing.T, typ string) *core.Event {
	t.Helper()
	ev, err := core.ParseEvent([]byte(`{"type":"` + typ + `","version":"v1","data":{"id":"batches/m1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery.ID = "msg_mux"
	return ev
}

func nop(context.Context, *core.Event) error { return nil }

// On refuses a type outside the catalogue at registration, naming every
// known type, as http.ServeMux refuses a bad pattern; OnNewType takes it.
func TestMuxOnRefusesTypesOutsideTheCatalogue(t *testing.T) {
	cases := []struct {
		name, typ string
		register  func(m *core.Mux, typ string)
		panics    bool
		suggest   string
	}{
		{"typo", "batch.success", func(m *core.Mux, typ string) { m.On(typ, nop) }, true, core.BatchSucceeded},
		{"British spelling", "batch.canceled", func(m *core.Mux, typ string) { m.On(typ, nop) }, true, core.BatchCancelled},
		{"empty", "", func(m *core.Mux, typ string) { m.On(typ, nop) }, true, ""},
		{"case matters", "Batch.Succeeded", func(m *core.Mux, typ string) { m.On(typ, nop) }, true, core.BatchSucceeded},
		{"alias of the guide", "batch.completed", func(m *core.Mux, typ string) { m.On(typ, nop) }, false, ""},
		{"new type, said so", "video.upscaled", func(m *core.Mux, typ string) { m.OnNewType(typ, nop) }, false, ""},
		{"catalogued type through OnNewType", core.BatchFailed, func(m *core.Mux, typ string) { m.OnNewType(typ, nop) }, false, ""},
		{"OnNewType without a type", "", func(m *core.Mux, typ string) { m.OnNewType(typ, nop) }, true, ""},
		{"OnNewType with spaces", "batch succeeded", func(m *core.Mux, typ string) { m.OnNewType(typ, nop) }, true, ""},
	}
	for _, typ := range core.EventTypes {
		cases = append(cases, struct {
			name, typ string
			register  func(m *core.Mux, typ string)
			panics    bool
			suggest   string
		}{"catalogue " + typ, typ, func(m *core.Mux, typ string) { m.On(typ, nop) }, false, ""})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := panicMessage(func() { c.register(core.NewMux(), c.typ) })
			if !c.panics {
				if msg != "" {
					t.Fatalf("panicked: %s", msg)
				}
				return
			}
			if msg == "" {
				t.Fatal("registered without a word")
			}
			if !strings.Contains(msg, fmt.Sprintf("%q", c.typ)) {
				t.Errorf("panic %q does not name the type", msg)
			}
			if c.suggest != "" && !strings.Contains(msg, fmt.Sprintf("did you mean %q", c.suggest)) {
				t.Errorf("panic %q does not suggest %s", msg, c.suggest)
			}
			if strings.Contains(msg, "Mux.On(") {
				for _, k := range append(core.EventTypes, "batch.completed", "OnNewType") {
					if !strings.Contains(msg, k) {
						t.Errorf("panic %q does not list %s", msg, k)
					}
				}
			}
		})
	}
}

// A type registered with OnNewType is routed like any other; batch.completed
// registers batch.succeeded.
func TestMuxRoutesNewTypesAndTheAlias(t *testing.T) {
	var ran []string
	mux := core.NewMux().
		OnNewType("video.upscaled", func(_ context.Context, ev *core.Event) error { ran = append(ran, "new:"+ev.Type); return nil }).
		On("batch.completed", func(_ context.Context, ev *core.Event) error { ran = append(ran, "alias:"+ev.Type); return nil })
	for _, typ := range []string{"video.upscaled", "batch.succeeded", "batch.completed"} {
		if err := mux.Process(context.Background(), event(t, typ)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(ran, " "); got != "new:video.upscaled alias:batch.succeeded alias:batch.succeeded" {
		t.Fatalf("ran %s", got)
	}
}

// Registering after the first event panics, on the mux that served and on
// the mux a serving copy came from (a late registration there would never
// run).
func TestMuxRefusesRegistrationAfterTheFirstEvent(t *testing.T) {
	registrations := map[string]func(m *core.Mux){
		"On":        func(m *core.Mux) { m.On(core.BatchFailed, nop) },
		"OnNewType": func(m *core.Mux) { m.OnNewType("video.upscaled", nop) },
		"Default":   func(m *core.Mux) { m.Default(nop) },
		"Use":       func(m *core.Mux) { m.Use(func(next core.HandlerFunc) core.HandlerFunc { return next }) },
	}
	for name, register := range registrations {
		for _, served := range []string{"itself", "a copy"} {
			t.Run(name+" after "+served+" served", func(t *testing.T) {
				mux := core.NewMux().On(core.BatchSucceeded, nop)
				register(mux) // before: fine
				serving := mux
				if served == "a copy" {
					serving = mux.With()
				}
				if err := serving.Process(context.Background(), event(t, core.BatchSucceeded)); err != nil {
					t.Fatal(err)
				}
				msg := panicMessage(func() { register(mux) })
				if !strings.Contains(msg, "Mux."+name+" after the mux served its first event") {
					t.Fatalf("late %s: panic %q", name, msg)
				}
			})
		}
	}
}

// With copies: what is registered on the copy or on the original afterwards
// does not reach the other.
func TestMuxWithCopies(t *testing.T) {
	var ran []string
	handler := func(name string) core.HandlerFunc {
		return func(context.Context, *core.Event) error { ran = append(ran, name); return nil }
	}
	mw := func(name string) core.Middleware {
		return func(next core.HandlerFunc) core.HandlerFunc {
			return func(ctx context.Context, ev *core.Event) error { ran = append(ran, name); return next(ctx, ev) }
		}
	}
	orig := core.NewMux().On(core.BatchSucceeded, handler("orig"))
	cp := orig.With(mw("builtin"))
	cp.On(core.BatchSucceeded, handler("copy-only")).Use(mw("copy-mw"))
	orig.On(core.BatchSucceeded, handler("orig-late")).Default(handler("orig-default"))

	for _, c := range []struct {
		mux  *core.Mux
		typ  string
		want string
	}{
		{orig, core.BatchSucceeded, "orig orig-late"},
		{cp, core.BatchSucceeded, "builtin copy-mw orig copy-only"},
		{cp, core.BatchFailed, "builtin copy-mw"}, // the original's later Default is not the copy's
	} {
		ran = nil
		if err := c.mux.Process(context.Background(), event(t, c.typ)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ran, " "); got != c.want {
			t.Errorf("%s ran %q, want %q", c.typ, got, c.want)
		}
	}
}

// Registrations racing the first events: with the old mux a late On wrote
// the route map while events read it (go test -race reports it); now each
// registration either lands before the mux froze or panics.
func TestMuxLateRegistrationDoesNotRace(t *testing.T) {
	mux := core.NewMux().On(core.BatchSucceeded, nop)
	served := mux.With()
	ev := event(t, core.BatchSucceeded)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused int
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := served.Process(context.Background(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				for _, m := range []*core.Mux{mux, served} {
					if msg := panicMessage(func() { m.On(core.BatchSucceeded, nop) }); msg != "" {
						mu.Lock()
						refused++
						mu.Unlock()
					}
					_ = m.Handlers(core.BatchSucceeded)
				}
			}
		}()
	}
	wg.Wait()
	if refused == 0 {
		t.Fatal("no late registration was refused")
	}
}

// The mux writes its handlers' outcome and time on the event's line.
func TestMuxWritesHandlersOnTheLine(t *testing.T) {
	boom := errors.New("boom")
	mux := core.NewMux().
		On(core.BatchSucceeded, nop, nop).
		On(core.BatchFailed, func(context.Context, *core.Event) error { return boom }).
		On(core.BatchExpired, func(context.Context, *core.Event) error { panic("oops") })
	for _, c := range []struct {
		typ, want string
		timed     bool
	}{
		{core.BatchSucceeded, "ok", true},
		{core.BatchFailed, "failed", true},
		{core.BatchExpired, "panicked", true},
		{core.BatchCancelled, "none", false},
	} {
		ctx, line := core.WithLineAttrs(context.Background())
		_ = mux.Process(ctx, event(t, c.typ))
		got := map[string]slog.Value{}
		for _, a := range line.Attrs() {
			got[a.Key] = a.Value
		}
		if got["handlers"].String() != c.want {
			t.Errorf("%s: handlers %v, want %s", c.typ, got["handlers"], c.want)
		}
		if _, ok := got["handler_ms"]; ok != c.timed {
			t.Errorf("%s: handler_ms present %v, want %v (%v)", c.typ, ok, c.timed, line.Attrs())
		}
	}
}
