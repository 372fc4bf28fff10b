// Package awstest sets up what tests need in moto_server's Secrets Manager.
package awstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Secrets is a Secrets Manager client for the moto_server at motoURL.
func Secrets(motoURL string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

// PutSecret creates a string secret named after name and the test, and
// returns its full ARN.
func PutSecret(t testing.TB, motoURL, name, value string) string {
	t.Helper()
	out, err := Secrets(motoURL).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name + "-" + t.Name()), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return *out.ARN
}
