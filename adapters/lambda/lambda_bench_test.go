package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkInvoke measures the adapter around the core: shape detection,
// event decoding, base64, verification, one store lookup (a redelivery, so
// every iteration does the same work) and the response encoding.
func BenchmarkInvoke(b *testing.B) {
	for _, size := range []int{1 << 10, 256 << 10} {
		for _, b64 := range []bool{false, true} {
			b.Run(fmt.Sprintf("body=%dKiB/base64=%v", size>>10, b64), func(b *testing.B) {
				r := newReceiver(b, 1<<20)
				r.logs = nil
				inv := &invoker{HTTP: r.h}
				body := append(envelope("bench")[:0:0], envelope("bench")...)
				body = append(body[:len(body)-1], []byte(`,"pad":"`+string(bytes.Repeat([]byte("x"), size))+`"}`)...)
				sent := string(body)
				if b64 {
					sent = base64.StdEncoding.EncodeToString(body)
				}
				payload, _ := json.Marshal(functionURLEvent("POST", signed(b, "msg_bench", testNow, body), sent, b64))
				if _, err := inv.Invoke(context.Background(), payload); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := inv.Invoke(context.Background(), payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
