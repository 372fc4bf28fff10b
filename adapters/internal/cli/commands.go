package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/core/verify"
)

type command func(ctx context.Context, a *app, args []string) error

var commands = map[string]command{
	"create":          cmdCreate,
	"list":            cmdList,
	"get":             cmdGet,
	"update":          cmdUpdate,
	"delete":          cmdDelete,
	"ping":            cmdPing,
	"rotate":          cmdRotate,
	"finish-rotation": cmdFinishRotation,
}

// flags are the options every command shares.
type flags struct {
	*flag.FlagSet
	json       bool
	timeout    time.Duration
	apiVersion string
	help       io.Writer // where -h prints: stdout, as asked for
}

func newFlags(a *app, name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), help: a.stdout}
	// Parse errors are reported once, by run, as usage errors.
	f.SetOutput(io.Discard)
	f.BoolVar(&f.json, "json", false, "print JSON instead of text")
	f.DurationVar(&f.timeout, "timeout", 60*time.Second, "deadline for the whole command")
	f.StringVar(&f.apiVersion, "api-version", "v1beta", "Gemini API version (v1beta or v1)")
	return f
}

func (f *flags) parse(args []string) error {
	return admin.ParseFlags(f.FlagSet, args, f.help, "gemini-webhooks", f.timeout)
}

// client builds the Gemini webhooks service; call it only after every input check.
func (f *flags) client(ctx context.Context, a *app) (*interactions.Webhooks, error) {
	return newWebhooks(ctx, a.getenv, f.apiVersion, f.timeout)
}

func (f *flags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}

func cmdCreate(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "create")
	uri := f.String("uri", "", "where Gemini delivers events: an absolute https URL (required)")
	events := f.String("events", "", "comma-separated event types (required)")
	name := f.String("name", "", "a display name")
	out := f.String("secret-out", "", "where the one-time signing secret goes (required)")
	appendMode := f.Bool("append", false, "keep the secrets DEST already holds after the new one")
	ifAbsent := f.Bool("if-absent", false, "create nothing if a webhook already delivers to --uri; set its events to --events (for idempotent deploy scripts)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkURI(*uri); err != nil {
		return err
	}
	evs, unlisted, err := parseEvents(*events)
	if err != nil {
		return err
	}
	d, err := parseDest(*out)
	if err != nil {
		return err
	}
	warnUnlisted(a.stderr, unlisted)
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	if *ifAbsent {
		all, err := listAll(ctx, svc, 0)
		if err != nil {
			return err
		}
		for _, v := range all {
			if v.URI != *uri {
				continue
			}
			// Run again with another list, the webhook follows it: a deploy
			// script's list is the one that holds.
			was, updated := v.SubscribedEvents, !sameSet(v.SubscribedEvents, evs)
			if updated {
				if v, err = setEvents(ctx, svc, v.ID, evs); err != nil {
					return err
				}
			}
			if f.json {
				return writeJSON(a.stdout, map[string]any{"webhook": v, "created": false, "events_updated": updated})
			}
			if updated {
				fmt.Fprintf(a.stdout, "webhook %s already delivers to %s; its events are now %s (were %s); nothing created, %s left as it is\n",
					v.ID, v.URI, strings.Join(v.SubscribedEvents, ","), orDash(strings.Join(was, ",")), d)
			} else {
				fmt.Fprintf(a.stdout, "webhook %s already delivers to %s with these events; nothing created, %s left as it is\n", v.ID, v.URI, d)
			}
			writeHuman(a.stdout, v, time.Now())
			return nil
		}
	}
	pending, err := prepareStore(ctx, a, d, modeOf(*appendMode))
	if err != nil {
		return err
	}
	defer pending.close()

	body := webhooks.WebhookInput{URI: *uri}
	if *name != "" {
		body.Name = name
	}
	for _, e := range evs {
		body.SubscribedEvents = append(body.SubscribedEvents, webhooks.WebhookSubscribedEvent(e))
	}
	res, err := svc.Create(ctx, operations.CreateWebhookRequest{Body: body}, noRetry())
	if err != nil {
		return apiErr("CreateWebhook", err)
	}
	w := res.GetWebhook()
	id := deref(w.GetID())
	secret := deref(w.GetNewSigningSecret())
	if secret == "" {
		return fmt.Errorf("webhook %s was created but Gemini returned no signing secret; get one with: gemini-webhooks rotate --id %s --revoke immediately --secret-out %s", id, id, d)
	}
	if err := pending.store(ctx, secret); err != nil {
		return fmt.Errorf("webhook %s was created but its secret was not stored: %w; get a new one with: gemini-webhooks rotate --id %s --revoke immediately --secret-out %s", id, err, id, d)
	}
	v := viewOf(w)
	if f.json {
		return writeJSON(a.stdout, map[string]any{"webhook": v, "created": true, "secret_out": d.String()})
	}
	fmt.Fprintf(a.stdout, "created webhook %s; its signing secret is stored in %s (it is not shown)\n", id, d)
	writeHuman(a.stdout, v, time.Now())
	return nil
}

// setEvents replaces the subscribed events of webhook id (PATCH with
// update_mask=subscribed_events; the URI, state and secrets stay).
func setEvents(ctx context.Context, svc *interactions.Webhooks, id string, evs []string) (webhookView, error) {
	body := webhooks.WebhookUpdate{}
	for _, e := range evs {
		body.SubscribedEvents = append(body.SubscribedEvents, webhooks.WebhookUpdateSubscribedEvent(e))
	}
	mask := "subscribed_events"
	res, err := svc.Update(ctx, operations.UpdateWebhookRequest{ID: id, UpdateMask: &mask, Body: body})
	if err != nil {
		return webhookView{}, apiErr("UpdateWebhook", err)
	}
	if res.GetWebhook() == nil {
		return webhookView{}, fmt.Errorf("update: empty answer for webhook %s", id)
	}
	return viewOf(res.GetWebhook()), nil
}

// sameSet reports whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	seen := map[string]bool{}
	for _, x := range b {
		if !in[x] {
			return false
		}
		seen[x] = true
	}
	return len(seen) == len(in)
}

func cmdList(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "list")
	pageSize := f.Int("page-size", 0, "webhooks per API call (0: the API's default)")
	if err := f.parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	all, err := listAll(ctx, svc, *pageSize)
	if err != nil {
		return err
	}
	if f.json {
		if all == nil {
			all = []webhookView{}
		}
		return writeJSON(a.stdout, struct {
			Webhooks []webhookView `json:"webhooks"`
		}{all})
	}
	if len(all) == 0 {
		fmt.Fprintln(a.stdout, "no webhooks")
		return nil
	}
	now := time.Now()
	for i, v := range all {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		writeHuman(a.stdout, v, now)
	}
	return nil
}

// listAll follows next_page_token to the end.
func listAll(ctx context.Context, svc *interactions.Webhooks, pageSize int) ([]webhookView, error) {
	var all []webhookView
	req := operations.ListWebhooksRequest{}
	if pageSize > 0 {
		req.PageSize = &pageSize
	}
	for page := 0; ; page++ {
		if page >= 1000 {
			return nil, errors.New("ListWebhooks: more than 1000 pages; giving up")
		}
		res, err := svc.List(ctx, req)
		if err != nil {
			return nil, apiErr("ListWebhooks", err)
		}
		lr := res.GetWebhookListResponse()
		for i := range lr.GetWebhooks() {
			all = append(all, viewOf(&lr.Webhooks[i]))
		}
		next := deref(lr.GetNextPageToken())
		if next == "" {
			return all, nil
		}
		req.PageToken = &next
	}
}

func cmdGet(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "get")
	id := f.String("id", "", "webhook id (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkID(*id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	v, err := getWebhook(ctx, svc, *id)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(a.stdout, v)
	}
	writeHuman(a.stdout, v, time.Now())
	return nil
}

func getWebhook(ctx context.Context, svc *interactions.Webhooks, id string) (webhookView, error) {
	res, err := svc.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		return webhookView{}, apiErr("GetWebhook", err)
	}
	if res.GetWebhook() == nil {
		return webhookView{}, fmt.Errorf("get: empty answer for webhook %s", id)
	}
	return viewOf(res.GetWebhook()), nil
}

func cmdUpdate(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "update")
	id := f.String("id", "", "webhook id (required)")
	uri := f.String("uri", "", "new delivery URL (absolute https)")
	events := f.String("events", "", "new comma-separated event types (replaces the list)")
	state := f.String("state", "", "enabled or disabled")
	name := f.String("name", "", "new display name")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkID(*id); err != nil {
		return err
	}
	var body webhooks.WebhookUpdate
	var mask []string
	if f.isSet("name") {
		body.Name = name
		mask = append(mask, "name")
	}
	if f.isSet("uri") {
		if err := checkURI(*uri); err != nil {
			return err
		}
		body.URI = uri
		mask = append(mask, "uri")
	}
	if f.isSet("events") {
		evs, unlisted, err := parseEvents(*events)
		if err != nil {
			return err
		}
		warnUnlisted(a.stderr, unlisted)
		for _, e := range evs {
			body.SubscribedEvents = append(body.SubscribedEvents, webhooks.WebhookUpdateSubscribedEvent(e))
		}
		mask = append(mask, "subscribed_events")
	}
	if f.isSet("state") {
		s, err := parseState(*state)
		if err != nil {
			return err
		}
		body.State = webhooks.WebhookUpdateState(s).ToPointer()
		mask = append(mask, "state")
	}
	if len(mask) == 0 {
		return usagef("nothing to update: give --uri, --events, --state or --name")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	m := strings.Join(mask, ",")
	res, err := svc.Update(ctx, operations.UpdateWebhookRequest{ID: *id, UpdateMask: &m, Body: body})
	if err != nil {
		return apiErr("UpdateWebhook", err)
	}
	if res.GetWebhook() == nil {
		return fmt.Errorf("update: empty answer for webhook %s", *id)
	}
	v := viewOf(res.GetWebhook())
	if f.json {
		return writeJSON(a.stdout, v)
	}
	fmt.Fprintf(a.stdout, "updated %s of webhook %s\n", m, *id)
	writeHuman(a.stdout, v, time.Now())
	return nil
}

func cmdDelete(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "delete")
	id := f.String("id", "", "webhook id (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkID(*id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	if _, err := svc.Delete(ctx, operations.DeleteWebhookRequest{ID: *id}); err != nil {
		return apiErr("DeleteWebhook", err)
	}
	return report(a, f, map[string]string{"deleted": *id}, "deleted webhook %s\n", *id)
}

func cmdPing(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "ping")
	id := f.String("id", "", "webhook id (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkID(*id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	if _, err := svc.Ping(ctx, operations.PingWebhookRequest{ID: *id, Body: &webhooks.PingWebhookRequest{}}); err != nil {
		return apiErr("PingWebhook", err)
	}
	return report(a, f, map[string]string{"pinged": *id}, "Gemini accepted a ping for webhook %s; watch the receiver's log for the delivery\n", *id)
}

func cmdRotate(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "rotate")
	id := f.String("id", "", "webhook id (required)")
	revoke := f.String("revoke", revokeAfter24h, "when the previous secrets stop working: after-24h or immediately")
	out := f.String("secret-out", "", "where the new signing secret goes (required)")
	appendMode := f.Bool("append", false, `store "new,previous" so receivers accept both during the 24 h overlap`)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := checkID(*id); err != nil {
		return err
	}
	behaviour, err := parseRevoke(*revoke)
	if err != nil {
		return err
	}
	d, err := parseDest(*out)
	if err != nil {
		return err
	}
	if *appendMode && *revoke == revokeImmediately {
		return usagef("--append keeps the previous secret for the 24 h overlap, but --revoke immediately ends it now; drop one of them")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	svc, err := f.client(ctx, a)
	if err != nil {
		return err
	}
	pending, err := prepareStore(ctx, a, d, modeOf(*appendMode))
	if err != nil {
		return err
	}
	defer pending.close()

	req := operations.RotateSigningSecretRequest{
		ID:   *id,
		Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: webhooks.RevocationBehavior(behaviour).ToPointer()},
	}
	res, err := svc.RotateSigningSecret(ctx, req, noRetry())
	if err != nil {
		return apiErr("RotateSigningSecret", err)
	}
	secret := deref(res.GetWebhookRotateSigningSecretResponse().GetSecret())
	if secret == "" {
		return fmt.Errorf("rotate: Gemini returned no secret for webhook %s; run rotate again", *id)
	}
	if err := pending.store(ctx, secret); err != nil {
		return fmt.Errorf("webhook %s has a new signing secret that was not stored: %w; run rotate again (with --revoke immediately if nothing uses the lost one)", *id, err)
	}
	if f.json {
		return writeJSON(a.stdout, map[string]any{"rotated": *id, "revoke": *revoke, "secret_out": d.String(), "append": *appendMode})
	}
	fmt.Fprintf(a.stdout, "rotated the signing secret of webhook %s; the new secret is stored in %s (it is not shown)\n", *id, d)
	switch {
	case *revoke == revokeImmediately:
		fmt.Fprintln(a.stdout, "previous secrets are revoked now: redeploy the receivers so they read the new value")
	case *appendMode:
		fmt.Fprintf(a.stdout, "%s now holds the new and the previous secrets: redeploy the receivers; after 24 h run\n  gemini-webhooks finish-rotation --id %s --secret-out %s\n", d, *id, d)
	default:
		fmt.Fprintln(a.stdout, "previous secrets stay valid for 24 h: redeploy the receivers within that time")
	}
	return nil
}

// cmdFinishRotation keeps only the newest secret in DEST once Gemini has
// dropped the previous ones.
func cmdFinishRotation(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "finish-rotation")
	out := f.String("secret-out", "", "the destination a rotate --append wrote (required)")
	id := f.String("id", "", "webhook id: when given, refuse while Gemini still honours an older secret")
	force := f.Bool("force", false, "finish even if Gemini still honours an older secret")
	if err := f.parse(args); err != nil {
		return err
	}
	d, err := parseDest(*out)
	if err != nil {
		return err
	}
	if *id != "" {
		if err := checkID(*id); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if *id != "" {
		svc, err := f.client(ctx, a)
		if err != nil {
			return err
		}
		v, err := getWebhook(ctx, svc, *id)
		if err != nil {
			return err
		}
		if n, until := liveSecrets(v, time.Now()); n > 1 && !*force {
			return fmt.Errorf("webhook %s still has %d valid signing secrets (the previous one expires %s); run this again after that, or pass --force",
				*id, n, until.UTC().Format(time.RFC3339))
		}
	}
	sink, err := openSink(ctx, a, d)
	if err != nil {
		return err
	}
	defer sink.Close()
	current, err := sink.Prepare(ctx, true)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if strings.TrimSpace(current) == "" {
		return fmt.Errorf("%s holds no secret", d)
	}
	secrets, err := verify.ParseSecrets(current)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if len(secrets) == 1 {
		return report(a, f, map[string]any{"secret_out": d.String(), "secrets_dropped": 0}, "%s already holds a single secret; nothing to do\n", d)
	}
	if err := sink.Put(ctx, secrets[0]); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	return report(a, f, map[string]any{"secret_out": d.String(), "secrets_dropped": len(secrets) - 1},
		"%s now holds only the newest secret (%d older dropped): redeploy the receivers so they read it\n", d, len(secrets)-1)
}

func report(a *app, f *flags, jsonValue any, format string, args ...any) error {
	if f.json {
		return writeJSON(a.stdout, jsonValue)
	}
	fmt.Fprintf(a.stdout, format, args...)
	return nil
}

func modeOf(appendMode bool) storeMode {
	if appendMode {
		return appendValue
	}
	return replaceValue
}

func warnUnlisted(w io.Writer, unlisted []string) {
	if len(unlisted) > 0 {
		fmt.Fprintf(w, "note: %s not in the SDK's list of subscribable events; the API may refuse them\n", strings.Join(unlisted, ", "))
	}
}
