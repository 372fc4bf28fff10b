package lambda

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/geminiwebhooks/receiver/scripts/testenv"
	"github.com/geminiwebhooks/receiver/scripts/testenv/awstest"
)

// motoURL is the moto_server the Secrets Manager tests use.
var motoURL string

func TestMain(m *testing.M) {
	moto, err := testenv.StartMoto(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto_server:", err)
		os.Exit(1)
	}
	motoURL = "http://" + moto.Host
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

func motoSecrets() *secretsmanager.Client { return awstest.Secrets(motoURL) }

func putSecret(t testing.TB, name, value string) string {
	return awstest.PutSecret(t, motoURL, name, value)
}
