package env

import (
	"fmt"
	"net/url"
	"strings"
)

// Gemini is how the Gemini API is reached: the part of Config that the
// admin CLI's webhook commands need on their own.
type Gemini struct {
	// APIKey is GOOGLE_API_KEY, else GEMINI_API_KEY: the precedence of
	// google.golang.org/genai's NewClient, so that a handler's own
	// genai.NewClient(ctx, nil) and the receiver use the same key.
	APIKey string
	// BaseURL is GOOGLE_GEMINI_BASE_URL (empty: the SDK's default, Google's
	// endpoint): https, or http to a loopback host (a local stand-in),
	// because the API key goes out on every call.
	BaseURL string
}

// LoadGemini reads GOOGLE_API_KEY, GEMINI_API_KEY and GOOGLE_GEMINI_BASE_URL
// through getenv; Load reads them the same way.
func LoadGemini(getenv func(string) string) (Gemini, error) {
	g := Gemini{
		APIKey:  strings.TrimSpace(getenv("GOOGLE_API_KEY")),
		BaseURL: strings.TrimSpace(getenv("GOOGLE_GEMINI_BASE_URL")),
	}
	if g.APIKey == "" {
		g.APIKey = strings.TrimSpace(getenv("GEMINI_API_KEY"))
	}
	if g.BaseURL != "" {
		u, err := url.Parse(g.BaseURL)
		if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && IsLoopback(u.Hostname())) {
			return g, fmt.Errorf("GOOGLE_GEMINI_BASE_URL %q: want an https URL (http only for a loopback host)", g.BaseURL)
		}
	}
	return g, nil
}
