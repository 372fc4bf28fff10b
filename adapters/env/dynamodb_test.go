package env_test

import (
	"strings"
	"testing"

	"github.com/geminiwebhooks/receiver/adapters/env"
)

// IDEMPOTENCY_STORE=dynamodb is accepted with a valid DYNAMODB_TABLE and
// needs no Google Cloud project; every mistake is refused naming the
// variable.
func TestDynamoDBStore(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		table   string
		wantErr string // the variable the error names; "" for none
	}{
		{"dynamodb with a table, no project", map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": "gemini-webhooks"}, "gemini-webhooks", ""},
		{"table name with dots and underscores", map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": " my_app.records-1 "}, "my_app.records-1", ""},
		{"dynamodb without a table", map[string]string{"IDEMPOTENCY_STORE": "dynamodb"}, "", "DYNAMODB_TABLE"},
		{"table name too short", map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": "ab"}, "", "DYNAMODB_TABLE"},
		{"table name with a slash", map[string]string{"IDEMPOTENCY_STORE": "dynamodb", "DYNAMODB_TABLE": "arn:aws:dynamodb:eu-west-1:1:table/x"}, "", "DYNAMODB_TABLE"},
		{"table without the dynamodb store", map[string]string{"DYNAMODB_TABLE": "gemini-webhooks", "GOOGLE_CLOUD_PROJECT": "p"}, "", "DYNAMODB_TABLE"},
		{"misspelt store", map[string]string{"IDEMPOTENCY_STORE": "dynamo", "DYNAMODB_TABLE": "gemini-webhooks"}, "", "IDEMPOTENCY_STORE"},
		{"firestore default untouched", map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := env.Load(func(k string) string { return c.vars[k] }, env.Cloud)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.DynamoDBTable != c.table {
					t.Fatalf("DynamoDBTable = %q, want %q", cfg.DynamoDBTable, c.table)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.wantErr) {
				t.Fatalf("err %v; want one starting with %s", err, c.wantErr)
			}
		})
	}
}
