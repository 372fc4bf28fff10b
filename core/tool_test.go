package core

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/core/internal/toolbox"
)

func noTool(context.Context, *ToolCall) (any, error) { return nil, nil }

func TestMuxToolRefusesMistakes(t *testing.T) {
	cases := []struct {
		name  string
		setup func(m *Mux)
		want  string
	}{
		{"empty name", func(m *Mux) { m.Tool("", noTool) }, "needs a name"},
		{"blank name", func(m *Mux) { m.Tool("  ", noTool) }, "needs a name"},
		{"nil func", func(m *Mux) { m.Tool("f", nil) }, "needs a name and a function"},
		{"duplicate", func(m *Mux) { m.Tool("f", noTool).Tool("f", noTool) }, "registered already"},
		{"after the first event", func(m *Mux) {
			_ = m.Process(context.Background(), &Event{Type: BatchSucceeded})
			m.Tool("late", noTool)
		}, "after the mux served"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				p := recover()
				if p == nil || !strings.Contains(p.(string), c.want) {
					t.Fatalf("panic = %v; want one saying %q", p, c.want)
				}
			}()
			c.setup(NewMux())
		})
	}
}

func TestToolsReachTheMiddleware(t *testing.T) {
	var seen []*toolbox.Box[ToolFunc]
	look := func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, ev *Event) error {
			seen = append(seen, toolbox.Of[ToolFunc](ctx))
			return next(ctx, ev)
		}
	}
	user := NewMux().Tool("b", noTool).Tool("a", noTool)
	copied := user.With(look)
	plain := NewMux().With(look)
	ev := &Event{Type: InteractionRequiresAction}
	if err := copied.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := plain.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := seen[0].Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("tools of the copy = %v; want [a b]", got)
	}
	if _, ok := seen[0].Lookup("a"); !ok {
		t.Fatal("Lookup(a) found nothing")
	}
	if got := user.Tools(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Tools() = %v; want [a b]", got)
	}
	if got := NewMux().Tools(); got != nil {
		t.Fatalf("Tools() of a mux with none = %v; want nil", got)
	}
	if seen[1] != nil {
		t.Fatalf("a mux with no tools gave %v; want nil", seen[1].Names())
	}
	// The copy froze the original: a late tool would never run.
	defer func() {
		if recover() == nil {
			t.Fatal("Tool on the original after its copy served: no panic")
		}
	}()
	user.Tool("c", noTool)
}
