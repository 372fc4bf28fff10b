package inspector

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminiwebhooks/receiver/core/verify"
)

// sign makes the Standard Webhooks headers of a delivery of body with id,
// signed with secret at at (Resend), by the Standard Webhooks library, as
// Gemini signs it.
func sign(secret, id string, at time.Time, body []byte) (http.Header, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(verify.HeaderID, id)
	h.Set(verify.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(verify.HeaderSignature, sig)
	return h, nil
}

func subtleEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func urlQuery(s string) string { return url.QueryEscape(s) }

func itoa(n int) string { return strconv.Itoa(n) }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func sortHeader(h [][2]string) {
	slices.SortStableFunc(h, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
}

// prettyJSON indents b when it is JSON ("" when it is not).
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return ""
	}
	return out.String()
}
