package cli

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/geminiwebhooks/receiver/core/verify"
)

// dest is a parsed --secret-out value.
type dest struct {
	kind   string // file, gcp-secret, aws-secret
	target string // the path, secret resource name or secret name
}

func (d dest) String() string { return d.kind + ":" + d.target }

var gcpSecretName = regexp.MustCompile(`^projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255}$`)

func parseDest(s string) (dest, error) {
	if s == "" {
		return dest{}, usagef("--secret-out: required (file:PATH, gcp-secret:projects/P/secrets/S or aws-secret:NAME); the secret is shown only once and is never printed")
	}
	kind, target, ok := strings.Cut(s, ":")
	if !ok || target == "" {
		return dest{}, usagef("--secret-out %q: want file:PATH, gcp-secret:projects/P/secrets/S or aws-secret:NAME", s)
	}
	d := dest{kind: kind, target: target}
	switch kind {
	case "file":
	case "gcp-secret":
		if !gcpSecretName.MatchString(target) {
			return dest{}, usagef("--secret-out %q: want gcp-secret:projects/PROJECT/secrets/NAME", s)
		}
	case "aws-secret":
		if strings.ContainsAny(target, " \t\n") {
			return dest{}, usagef("--secret-out %q: not a Secrets Manager name or ARN", s)
		}
	default:
		return dest{}, usagef("--secret-out %q: unknown kind %q; want file:, gcp-secret: or aws-secret:", s, kind)
	}
	return d, nil
}

// secretSink is one secret store. Prepare runs before any Gemini call, so a
// destination that cannot be written is found out before a one-time secret
// exists; Put writes the value; Close removes anything Prepare left behind.
type secretSink interface {
	// Prepare checks the destination can be written and, when read is set,
	// returns the value it holds now ("" when it holds none).
	Prepare(ctx context.Context, read bool) (current string, err error)
	Put(ctx context.Context, value string) error
	Close() error
}

// storeMode says how a new secret joins what the destination already holds.
type storeMode int

const (
	replaceValue storeMode = iota // the destination holds only the new secret
	appendValue                   // "new,old…": receivers accept both during a rotation's overlap
)

// pendingStore is a prepared destination waiting for its secret.
type pendingStore struct {
	dest    dest
	sink    secretSink
	mode    storeMode
	current []string // validated secrets already held (appendValue only)
}

// prepareStore opens and checks the destination. Call close when done.
func prepareStore(ctx context.Context, a *app, d dest, mode storeMode) (*pendingStore, error) {
	sink, err := openSink(ctx, a, d)
	if err != nil {
		return nil, err
	}
	p := &pendingStore{dest: d, sink: sink, mode: mode}
	current, err := sink.Prepare(ctx, mode == appendValue)
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	if mode == appendValue && strings.TrimSpace(current) != "" {
		// ParseSecrets names a bad entry by position, never by value.
		if p.current, err = verify.ParseSecrets(current); err != nil {
			sink.Close()
			return nil, fmt.Errorf("%s holds a value that is not a whsec_ list, so --append cannot keep it: %w", d, err)
		}
	}
	return p, nil
}

// store checks the secret's shape and writes it; errors never contain it.
func (p *pendingStore) store(ctx context.Context, secret string) error {
	if _, err := verify.DecodeSecret(secret); err != nil {
		return fmt.Errorf("the secret Gemini returned is not usable (%w); nothing was stored", err)
	}
	value := secret
	if p.mode == appendValue {
		value = joinSecrets(secret, p.current)
	}
	if err := p.sink.Put(ctx, value); err != nil {
		return fmt.Errorf("%s: %w", p.dest, err)
	}
	return nil
}

func (p *pendingStore) close() { p.sink.Close() }

// joinSecrets puts the newest first (finish-rotation keeps the first) and drops repeats.
func joinSecrets(newest string, older []string) string {
	out := []string{newest}
	for _, s := range older {
		if s != newest {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func openSink(ctx context.Context, a *app, d dest) (secretSink, error) {
	switch d.kind {
	case "file":
		return newFileSink(d.target), nil
	case "gcp-secret":
		return newGCPSink(ctx, a.getenv, d.target)
	case "aws-secret":
		return newAWSSink(ctx, d.target)
	}
	return nil, fmt.Errorf("unknown destination kind %q", d.kind)
}
