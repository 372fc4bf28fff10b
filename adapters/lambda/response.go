package lambda

import (
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/geminiwebhooks/receiver/core"
)

// toFunctionURL converts the core's answer to a Function URL response.
func toFunctionURL(r core.Response) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: r.Status, Headers: responseHeaders(r), Body: string(r.Body)}
}

// toHTTPAPI converts the core's answer to an HTTP API response.
func toHTTPAPI(r core.Response) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: r.Status, Headers: responseHeaders(r), Body: string(r.Body)}
}

// responseHeaders are the ones ServeHTTP sets, so every adapter answers alike.
func responseHeaders(r core.Response) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if r.Status == http.StatusMethodNotAllowed {
		h["Allow"] = http.MethodPost
	}
	return h
}
