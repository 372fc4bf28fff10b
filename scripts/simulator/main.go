// Command simulator sends what Gemini sends to a webhook receiver: every
// event type of the catalogue with realistic thin payloads, signed with the
// static scheme (a whsec_ secret) or the dynamic one (an RS256 token whose
// key set it serves itself on loopback), retried with exponential backoff,
// plus duplicate, stale, tampered and malformed deliveries. It prints each
// delivery's answer against what the receiver should answer, and exits 1
// when any answer differs.
//
//	go run ./scripts/simulator --url http://127.0.0.1:8080 --secret-file .gemini-webhooks/dev-secret
//	go run ./scripts/simulator --url https://REGION-PROJECT.cloudfunctions.net/GeminiWebhook --secret whsec_…
//	go run ./scripts/simulator --url http://127.0.0.1:8080 --jwt --jwks-port 8091 --wait
//
// The standin subcommand serves a stand-in of the Gemini API on loopback
// (adapters/gemini/geminitest) until interrupted: every batch it is asked
// about succeeded, with a generated output file, and every file is a
// generated video, so a receiver pointed at it with GOOGLE_GEMINI_BASE_URL
// lands the results of the batches the simulator announces, with no API key.
// --standin URL tells it, before each event, what the event announces, so a
// batch.failed is failed in the API too:
//
//	go run ./scripts/simulator standin [--addr 127.0.0.1:8090]
//	go run ./scripts/simulator --url http://127.0.0.1:8080 --secret-file .gemini-webhooks/dev-secret --standin http://127.0.0.1:8090
//
// --scenario agent runs the tools loop of a receiver whose mux registers
// --tools (Mux.Tool) against the stand-in: requires_action, the
// receiver's tools and continuation, the next round, then completed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geminiwebhooks/receiver/adapters/gemini/geminitest"
	"github.com/geminiwebhooks/receiver/scripts/simulator/gemini"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	url        string
	secret     string
	secretFile string
	jwt        bool
	audience   string
	issuer     string
	jwksPort   int
	jwtKey     string
	wait       time.Duration
	metadata   string

	scenario   string
	events     string
	duplicates int
	stale      bool
	tampered   bool
	malformed  bool

	maxAttempts    int
	initialBackoff time.Duration
	timeout        time.Duration
	json           bool
	standin        string

	tools  string // the agent scenario
	rounds int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "receiver URL (http://127.0.0.1:8080, or a deployed https URL)")
	fs.StringVar(&o.secret, "secret", "", "static scheme: whsec_ secret(s), comma separated for a rotation (default $WEBHOOK_SIGNING_SECRET)")
	fs.StringVar(&o.secretFile, "secret-file", "", "static scheme: file holding the whsec_ secret")
	fs.BoolVar(&o.jwt, "jwt", false, "dynamic scheme: sign RS256 tokens with a key whose JWKS is served on loopback")
	fs.StringVar(&o.audience, "audience", "gemini-webhook-simulator", "dynamic scheme: the aud claim (the receiver's WEBHOOK_AUDIENCE)")
	fs.StringVar(&o.issuer, "issuer", "https://generativelanguage.googleapis.com", "dynamic scheme: the iss claim (the receiver's WEBHOOK_ISSUER); empty: none")
	fs.IntVar(&o.jwksPort, "jwks-port", 0, "dynamic scheme: loopback port of the JWKS (0: any free port)")
	fs.StringVar(&o.jwtKey, "jwt-key", "", "dynamic scheme: PEM file of the RSA key, made if missing (a stable key keeps the kid across runs)")
	fs.DurationVar(&o.wait, "wait", 0, "dynamic scheme: before sending, wait up to this long for the receiver to fetch the JWKS")
	fs.StringVar(&o.metadata, "user-metadata", `{"job_group":"nightly-eval","priority":"high"}`, "dynamic scheme: the job's user_metadata echoed in every event (JSON object)")
	fs.StringVar(&o.scenario, "scenario", "all", "all: the events, a duplicate, a stale and a tampered delivery; events: the events only; agent: the tools loop (needs --standin)")
	fs.StringVar(&o.tools, "tools", "lookup", "agent scenario: the tools the receiver registers (Mux.Tool), comma separated; each round calls each once")
	fs.IntVar(&o.rounds, "rounds", 2, "agent scenario: rounds of tool calls before the interaction completes")
	fs.StringVar(&o.events, "events", strings.Join(gemini.Catalogue, ","), "comma-separated event types to send (unknown types are allowed)")
	fs.IntVar(&o.duplicates, "duplicates", -1, "redeliveries of the first event with its id and body (default 1 with --scenario all, else 0)")
	fs.BoolVar(&o.stale, "stale", false, "also send a delivery signed 10 minutes ago (on with --scenario all)")
	fs.BoolVar(&o.tampered, "tampered", false, "also send a delivery whose body changed after signing (on with --scenario all)")
	fs.BoolVar(&o.malformed, "malformed", false, "also send a signed body that is not JSON (kept as a dead letter)")
	fs.IntVar(&o.maxAttempts, "max-attempts", 3, "attempts per delivery; non-2xx answers are retried like Gemini does")
	fs.DurationVar(&o.initialBackoff, "initial-backoff", 500*time.Millisecond, "wait before the first retry, doubled after each")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per attempt")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per delivery instead of a table")
	fs.StringVar(&o.standin, "standin", "", "URL of the Gemini API stand-in (simulator standin) the receiver asks: told before each event what it announces, so a failed batch is failed in the API too")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, errors.New("--url must be an http:// or https:// URL")
	}
	switch o.scenario {
	case "all":
		o.stale, o.tampered = true, true
		if o.duplicates < 0 {
			o.duplicates = 1
		}
	case "events":
		o.duplicates = max(o.duplicates, 0)
	case "agent":
		if o.standin == "" {
			return o, errors.New("--scenario agent needs --standin: the receiver's Gemini API must be the stand-in")
		}
		if o.rounds < 1 || o.rounds > 100 {
			return o, errors.New("--rounds: want 1 to 100")
		}
	default:
		return o, fmt.Errorf("--scenario %q: want all, events or agent", o.scenario)
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "standin" {
		return standin(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	signer, metadata, err := setUpSigner(ctx, o, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	p := plan{
		events:     splitList(o.events),
		duplicates: o.duplicates,
		stale:      o.stale,
		tampered:   o.tampered,
		malformed:  o.malformed,
		metadata:   metadata,
	}
	sender := &gemini.Sender{
		Signer:         signer,
		MaxAttempts:    o.maxAttempts,
		InitialBackoff: o.initialBackoff,
		Timeout:        o.timeout,
	}
	if o.scenario == "agent" {
		if err := agent(ctx, o, sender, metadata, stdout); err != nil {
			fmt.Fprintln(stderr, "simulator: agent:", err)
			return 1
		}
		return 0
	}
	rep := reporter{w: stdout, json: o.json}
	for _, s := range p.build(time.Now()) {
		if ctx.Err() != nil {
			break
		}
		if o.standin != "" && s.Kind == "event" {
			if err := announce(ctx, o.standin, s.Delivery); err != nil {
				fmt.Fprintln(stderr, "simulator: --standin:", err)
				return 1
			}
		}
		rep.line(s, sender.Send(ctx, o.url, s.Delivery))
	}
	if o.json {
		return rep.summary(stderr)
	}
	return rep.summary(stdout)
}

// setUpSigner picks the scheme. The dynamic one also starts the JWKS server
// (it lives until ctx ends) and tells how to configure the receiver.
func setUpSigner(ctx context.Context, o options, getenv func(string) string, stderr io.Writer) (gemini.Signer, map[string]any, error) {
	static := o.secret != "" || o.secretFile != ""
	if o.jwt && static {
		return nil, nil, errors.New("--jwt and --secret/--secret-file are exclusive")
	}
	if !o.jwt {
		secret := o.secret
		if o.secretFile != "" {
			b, err := os.ReadFile(o.secretFile)
			if err != nil {
				return nil, nil, err
			}
			secret = strings.TrimSpace(string(b))
		}
		if secret == "" {
			secret = getenv("WEBHOOK_SIGNING_SECRET")
		}
		if secret == "" {
			return nil, nil, errors.New("give --secret, --secret-file or --jwt (or set WEBHOOK_SIGNING_SECRET)")
		}
		signer := gemini.StaticSigner{Secret: secret}
		// Fail on a bad secret now, with an error that does not print it.
		if _, err := signer.Sign("msg_check", time.Now(), nil); err != nil {
			return nil, nil, err
		}
		return signer, nil, nil
	}

	var metadata map[string]any
	if o.metadata != "" {
		if err := json.Unmarshal([]byte(o.metadata), &metadata); err != nil {
			return nil, nil, fmt.Errorf("--user-metadata: %w", err)
		}
	}
	var signer *gemini.JWTSigner
	if o.jwtKey != "" {
		key, err := gemini.LoadOrCreateKey(o.jwtKey)
		if err != nil {
			return nil, nil, err
		}
		signer = gemini.NewJWTSignerWithKey(key, o.audience, o.issuer)
	} else {
		s, err := gemini.NewJWTSigner(o.audience, o.issuer)
		if err != nil {
			return nil, nil, err
		}
		signer = s
	}
	jwksURL, err := signer.ServeJWKS(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(o.jwksPort)))
	if err != nil {
		return nil, nil, fmt.Errorf("serve JWKS: %w", err)
	}
	fmt.Fprintf(stderr, "JWKS (kid %s) served at %s\n", signer.KID(), jwksURL)
	fmt.Fprintf(stderr, "The receiver needs:\n  WEBHOOK_AUDIENCE=%s WEBHOOK_JWKS_URL=%s", o.audience, jwksURL)
	if o.issuer != "" {
		fmt.Fprintf(stderr, " WEBHOOK_ISSUER=%s", o.issuer)
	}
	fmt.Fprintln(stderr)
	if o.jwksPort == 0 || o.jwtKey == "" {
		fmt.Fprintln(stderr, "(--jwks-port and --jwt-key keep the URL and the kid the same across runs)")
	}
	if o.wait > 0 {
		fmt.Fprintf(stderr, "waiting up to %s for the receiver to fetch the JWKS…\n", o.wait)
		if err := waitForFetch(ctx, signer, o.wait); err != nil {
			return nil, nil, err
		}
	}
	return signer, metadata, nil
}

func waitForFetch(ctx context.Context, s *gemini.JWTSigner, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for s.JWKSFetches() == 0 {
		select {
		case <-ctx.Done():
			return errors.New("the receiver did not fetch the JWKS in time")
		case <-t.C:
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// reporter prints one line per delivery and the final count.
type reporter struct {
	w      io.Writer
	json   bool
	total  int
	failed int
}

// deliveryReport is the --json form of one delivery.
type deliveryReport struct {
	Kind      string  `json:"kind"`
	EventType string  `json:"event_type,omitempty"`
	WebhookID string  `json:"webhook_id"`
	Status    int     `json:"status"`
	Outcome   string  `json:"outcome,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	Want      string  `json:"want"`
	OK        bool    `json:"ok"`
	Attempts  int     `json:"attempts"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

func (r *reporter) line(s step, res gemini.Result) {
	ok := res.Err == nil && s.Want.met(res.Status, res.Outcome)
	r.total++
	if !ok {
		r.failed++
	}
	if r.json {
		d := deliveryReport{
			Kind: s.Kind, EventType: s.EventType, WebhookID: s.ID, Status: res.Status,
			Outcome: res.Outcome, Reason: res.Reason, Want: s.Want.String(), OK: ok,
			Attempts: res.Attempts, LatencyMS: float64(res.Latency.Microseconds()) / 1000,
		}
		if res.Err != nil {
			d.Error = res.Err.Error()
		}
		b, _ := json.Marshal(d)
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	verdict := "ok  "
	if !ok {
		verdict = "FAIL"
	}
	got := fmt.Sprintf("%d %s", res.Status, res.Outcome)
	if res.Err != nil {
		got = "error: " + res.Err.Error()
	}
	fmt.Fprintf(r.w, "%s %-29s %-28s got %-22s want %s", verdict, s.label(), s.ID, got, s.Want)
	if res.Attempts > 1 {
		fmt.Fprintf(r.w, " (%d attempts)", res.Attempts)
	}
	if res.Reason != "" {
		fmt.Fprintf(r.w, " reason: %s", res.Reason)
	}
	fmt.Fprintln(r.w)
}

// summary prints the count and returns the exit code.
func (r *reporter) summary(w io.Writer) int {
	fmt.Fprintf(w, "%d deliveries: %d as expected, %d not\n", r.total, r.total-r.failed, r.failed)
	if r.failed > 0 || r.total == 0 {
		return 1
	}
	return 0
}

// announce tells the stand-in at base which job d's event is about and
// what it says of it.
func announce(ctx context.Context, base string, d gemini.Delivery) error {
	var env gemini.Envelope
	if err := json.Unmarshal(d.Body, &env); err != nil {
		return nil // not an event: nothing to agree on
	}
	job, _ := env.Data["id"].(string)
	if job == "" {
		return nil
	}
	return postJSON(ctx, strings.TrimSuffix(base, "/")+geminitest.AnnouncePath, map[string]string{"type": env.Type, "job": job})
}

// StandinKey is the API key the stand-in accepts when --api-key is not given.
const StandinKey = "standin"

// standin serves the Gemini API stand-in until ctx ends.
func standin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulator standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address (port 0: any free port)")
	key := fs.String("api-key", StandinKey, "the API key it demands in x-goog-api-key")
	size := fs.Int64("size", 64<<10, "bytes of each batch's generated output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: simulator standin [--addr HOST:PORT] [--api-key KEY] [--size BYTES]")
		fmt.Fprintln(stderr, "Serves a stand-in of the Gemini API (batches.get, files.get and downloads, interactions.get) until interrupted.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *size <= 0 || *key == "" {
		fmt.Fprintln(stderr, "simulator standin: want no arguments, --size > 0 and a non-empty --api-key")
		return 2
	}
	s, err := geminitest.Listen(*addr, *key)
	if err != nil {
		fmt.Fprintln(stderr, "simulator standin:", err)
		return 1
	}
	defer s.Close()
	s.SetAuto(*size)
	fmt.Fprintf(stdout, "Gemini API stand-in on %s: every batch succeeded with a %d-byte output; every file is a video.\n", s.URL, *size)
	fmt.Fprintf(stdout, "Point the receiver at it:\n  GOOGLE_GEMINI_BASE_URL=%s GEMINI_API_KEY=%s\n", s.URL, *key)
	fmt.Fprintf(stdout, "and the simulator, so the API agrees with the events it sends:\n  --standin %s\n", s.URL)
	<-ctx.Done()
	return 0
}
