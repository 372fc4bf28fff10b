package env

import (
	"errors"
	"fmt"
	"strings"
)

// loadDynamoDB reads DYNAMODB_TABLE and checks it against
// IDEMPOTENCY_STORE: the dynamodb store needs a table, and a table name
// must be one DynamoDB accepts (3 to 255 of a-z A-Z 0-9 _ - .), so that a
// typo is refused here rather than on the first delivery. A table set with
// another store is a mistake too: the operator believes the records are
// in DynamoDB.
func (c *Config) loadDynamoDB(getenv func(string) string) []error {
	c.DynamoDBTable = strings.TrimSpace(getenv("DYNAMODB_TABLE"))
	if c.IdempotencyStore != "dynamodb" {
		if c.DynamoDBTable != "" {
			return []error{fmt.Errorf("DYNAMODB_TABLE is set but IDEMPOTENCY_STORE is %s: set IDEMPOTENCY_STORE=dynamodb to keep the records in DynamoDB, or unset DYNAMODB_TABLE", c.IdempotencyStore)}
		}
		return nil
	}
	if c.DynamoDBTable == "" {
		return []error{errors.New("DYNAMODB_TABLE is unset: IDEMPOTENCY_STORE=dynamodb needs the table that holds the records")}
	}
	if !validTableName(c.DynamoDBTable) {
		return []error{fmt.Errorf("DYNAMODB_TABLE %q: want a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')", c.DynamoDBTable)}
	}
	return nil
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
