package local

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"github.com/geminiwebhooks/receiver/adapters/internal/admin"
	"github.com/geminiwebhooks/receiver/adapters/internal/inspector"
	"github.com/geminiwebhooks/receiver/adapters/internal/wire"
	"github.com/geminiwebhooks/receiver/core"
)

// withInspector serves the inspector's page (its own token, session cookie
// and CSRF checks) under inspector.Prefix on the admin listener, and
// everything else as before, behind the admin token.
func withInspector(ui http.Handler, next http.Handler) http.Handler {
	if ui == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, inspector.Prefix) {
			ui.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// connectInspector gives the inspector the app's ledger, dead letters and
// sink, the admin command's replay path, and what Resend needs: the webhook
// port at addr and the first static secret.
func connectInspector(ui *inspector.Inspector, app *wire.App, addr string) {
	dead, _ := app.Store.(core.DeadLetters)
	b := inspector.Backend{Ledger: app.Processing.Ledger, Sink: app.Processing.Sink, ReceiverURL: "http://" + addr + "/"}
	if dead != nil {
		b.DeadLetters = dead
		b.Replay = func(ctx context.Context, key string) error { return replay(ctx, app, dead, key) }
	}
	if len(app.Config.SigningSecrets) > 0 {
		b.Secret = app.Config.SigningSecrets[0]
	}
	ui.Connect(b)
}

// adminURL is the running admin listener's address, from the admin.json
// serveAdmin wrote.
func adminURL(app *wire.App) string {
	var info admin.Info
	if b, err := os.ReadFile(admin.InfoPath(app.Config)); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	return info.URL
}
