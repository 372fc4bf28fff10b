package core

import (
	"fmt"
	"io"
)

// ReadBody reads a request body of at most limit bytes (DefaultMaxBodyBytes
// when limit <= 0). contentLength is what the request announced, -1 when
// unknown; a body announced or found larger than limit fails with an error
// wrapping ErrBodyTooLarge. A nil body reads as empty.
//
// The buffer grows with the bytes that arrive, never to the announced
// Content-Length: before authentication that number is the sender's word,
// and a thousand slow requests announcing the cap must not cost a thousand
// times the cap.
func ReadBody(body io.Reader, contentLength, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if contentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, contentLength, limit)
	}
	if body == nil {
		return nil, nil
	}
	// A small head start covers typical envelopes. One spare byte past the
	// announced length lets the read that finds the end do so without
	// growing the buffer (bytes.Buffer.ReadFrom would double it to keep 512
	// bytes free, copying every body once more).
	size := 512
	if contentLength > 0 {
		size = int(min(contentLength+1, initialBodyBuffer))
	}
	buf := make([]byte, 0, size)
	r := io.LimitReader(body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow by append's policy, as io.ReadAll
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, limit)
	}
	return buf, nil
}
