package signature

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminiwebhooks/receiver/core"
	"github.com/geminiwebhooks/receiver/core/internal/delivery"
)

func FuzzParseStaticSignatures(f *testing.F) {
	for _, s := range []string{vectorSig, vectorSig + " v1a,AAAA", "v1,", ",abc", "v1,abc v2,def", "  ", "v1,!!!", "v1,a,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sigs, err := ParseStaticSignatures(header)
		if err != nil {
			if !errors.Is(err, core.ErrMalformedHeaders) {
				t.Fatalf("error %v does not wrap core.ErrMalformedHeaders", err)
			}
			return
		}
		if len(sigs) != len(strings.Fields(header)) {
			t.Fatalf("%d entries from %d fields", len(sigs), len(strings.Fields(header)))
		}
		for _, s := range sigs {
			if s.Version == "" || (s.Version == "v1" && s.Signature == nil) {
				t.Fatalf("bad entry %+v", s)
			}
		}
	})
}

func FuzzDetectScheme(f *testing.F) {
	for _, s := range []string{vectorSig, "eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln", "a.b.c", "..", "Bearer x.y.z", "v1,abc="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		scheme, err := DetectScheme(header)
		if (err == nil) == (scheme == "") {
			t.Fatalf("scheme %q with err %v", scheme, err)
		}
		if err != nil && !errors.Is(err, core.ErrMalformedHeaders) && !errors.Is(err, core.ErrMissingHeaders) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// No input but the signed one verifies: whatever the fuzzer does to the id,
// timestamp, signature header or body, success implies the original bytes.
func FuzzStaticVerify(f *testing.F) {
	now := time.Unix(vectorTS, 0)
	f.Add(vectorID, strconv.Itoa(vectorTS), vectorSig, []byte(vectorBody))
	f.Add(vectorID, strconv.Itoa(vectorTS), vectorSig+" v1,AAAA", []byte(vectorBody))
	f.Add(vectorID, "1614265331", vectorSig, []byte(vectorBody))
	f.Add("msg_x", "abc", "v1,", []byte("{}"))
	v, err := NewStaticVerifier([]string{vectorSecret}, 5*time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(delivery.HeaderID, id)
		h.Set(delivery.HeaderTimestamp, ts)
		h.Set(delivery.HeaderSignature, sig)
		d, err := v.Verify(context.Background(), h, body, now)
		if err != nil {
			for _, want := range []error{core.ErrMissingHeaders, core.ErrMalformedHeaders, core.ErrBadSignature, core.ErrOutsideWindow} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("error %v wraps no contract sentinel", err)
		}
		if d.ID != vectorID || !bytes.Equal(body, []byte(vectorBody)) || ts != strconv.Itoa(vectorTS) {
			t.Fatalf("forged delivery verified: id=%q ts=%q body=%q", id, ts, body)
		}
	})
}
