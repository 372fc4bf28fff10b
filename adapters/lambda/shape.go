package lambda

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Kind is the shape of an invocation's event.
type Kind int

// The event shapes the bootstrap serves.
const (
	KindUnknown     Kind = iota
	KindFunctionURL      // Lambda Function URL request, payload format 2.0
	KindHTTPAPI          // API Gateway HTTP API request, payload format 2.0
	KindSQS              // SQS event source mapping batch
	KindSchedule         // EventBridge (Scheduler or a scheduled rule): run the reconcile
)

func (k Kind) String() string {
	switch k {
	case KindFunctionURL:
		return "function_url"
	case KindHTTPAPI:
		return "http_api"
	case KindSQS:
		return "sqs"
	case KindSchedule:
		return "schedule"
	}
	return "unknown"
}

// errUnsupportedEvent: the payload is none of the shapes this function serves.
var errUnsupportedEvent = errors.New("unsupported Lambda event")

// payload is the union of the shapes this function serves, holding only the
// fields it uses, so an invocation's JSON is decoded once (the body string
// may be megabytes). The HTTP fields are those of payload format 2.0, shared
// by events.LambdaFunctionURLRequest and events.APIGatewayV2HTTPRequest.
type payload struct {
	RouteKey        string            `json:"routeKey"`   // HTTP API only
	HTTPMethod      string            `json:"httpMethod"` // payload format 1.0 (REST API)
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
	Records []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
	// A scheduled event: what an EventBridge rule sends ("source":
	// "aws.events"), and the input deploy/aws/template.yaml gives its
	// EventBridge Scheduler schedule ("source": "aws.scheduler").
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// scheduled is the detail-type of a scheduled event.
const scheduled = "Scheduled Event"

// DetectKind tells an invocation's shape from its JSON.
func DetectKind(raw []byte) (Kind, error) {
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return KindUnknown, fmt.Errorf("%w: not a JSON object: %v", errUnsupportedEvent, err)
	}
	return p.kind()
}

// kind: Function URLs and HTTP APIs share payload format 2.0; only the HTTP
// API names a route.
func (p *payload) kind() (Kind, error) {
	switch {
	case len(p.Records) > 0:
		for _, r := range p.Records {
			if r.EventSource != "aws:sqs" {
				return KindUnknown, fmt.Errorf("%w: records from %.64q", errUnsupportedEvent, r.EventSource)
			}
		}
		return KindSQS, nil
	case p.RequestContext.HTTP.Method != "" && p.RouteKey != "":
		return KindHTTPAPI, nil
	case p.RequestContext.HTTP.Method != "":
		return KindFunctionURL, nil
	case p.DetailType == scheduled && (p.Source == "aws.scheduler" || p.Source == "aws.events"):
		return KindSchedule, nil
	case p.HTTPMethod != "":
		return KindUnknown, fmt.Errorf("%w: API Gateway payload format 1.0; use a Function URL or an HTTP API with payload format 2.0", errUnsupportedEvent)
	}
	return KindUnknown, fmt.Errorf("%w: neither an HTTP request (payload format 2.0), an SQS batch nor a scheduled event", errUnsupportedEvent)
}
