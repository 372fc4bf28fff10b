package lambda

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/core"
)

// fromFunctionURL converts a Lambda Function URL request (payload format 2.0).
func fromFunctionURL(ev events.LambdaFunctionURLRequest) core.Request {
	return newRequest(ev.RequestContext.HTTP.Method, ev.Headers, ev.Body, ev.IsBase64Encoded)
}

// fromHTTPAPI converts an API Gateway HTTP API request (payload format 2.0).
func fromHTTPAPI(ev events.APIGatewayV2HTTPRequest) core.Request {
	return newRequest(ev.RequestContext.HTTP.Method, ev.Headers, ev.Body, ev.IsBase64Encoded)
}

// newRequest builds the core request. Header names arrive lower case; Set
// canonicalises them so Header.Get works as it does behind net/http. A base64
// body is decoded as it is read, so the verifier sees the bytes Gemini signed
// and the core's size cap applies to decoded bytes without a second copy.
func newRequest(method string, headers map[string]string, body string, isBase64 bool) core.Request {
	h := make(http.Header, len(headers))
	for k, v := range headers {
		h.Set(k, v)
	}
	req := core.Request{Method: method, Header: h, ContentLength: int64(len(body))}
	if !isBase64 {
		req.Body = strings.NewReader(body)
		return req
	}
	req.Body = base64.NewDecoder(base64.StdEncoding, strings.NewReader(body))
	req.ContentLength = decodedLen(body)
	return req
}

// decodedLen is the exact decoded size of padded standard base64, or -1 when
// the text is not of that shape (the decoder then reports the error, which
// the core answers 400).
func decodedLen(s string) int64 {
	if len(s)%4 != 0 {
		return -1
	}
	n := len(s) / 4 * 3
	if strings.HasSuffix(s, "==") {
		n -= 2
	} else if strings.HasSuffix(s, "=") {
		n--
	}
	return int64(n)
}
