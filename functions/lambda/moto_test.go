package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// motoSecrets is a Secrets Manager client for moto_server (test setup only).
func motoSecrets() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

// putSecret creates a string secret in moto and returns its full ARN.
func putSecret(t testing.TB, name, value string) string {
	t.Helper()
	out, err := motoSecrets().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name + "-" + t.Name()), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return *out.ARN
}
