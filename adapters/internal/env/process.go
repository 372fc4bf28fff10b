package env

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// Getenv is the process's environment: what an entry point (gcf.Register,
// lambda.Start, local.Main, the admin CLI's main) passes to Load and the
// other loaders here. Everything else takes a getenv, so that tests pass
// a map instead; this file and the loaders are the only code that reads
// the environment (TestOnlyEnvReadsTheEnvironment).
func Getenv(name string) string { return os.Getenv(name) }

// envGoogleCredentials is where Google's client libraries look for a
// credential configuration (Application Default Credentials).
const envGoogleCredentials = "GOOGLE_APPLICATION_CREDENTIALS"

// SetGoogleCredentials points GOOGLE_APPLICATION_CREDENTIALS at path for
// the rest of the process: the one variable the receiver writes, because
// Google's client libraries (Firestore's, and any a handler builds) find
// their credentials there. The Lambda calls it with the Workload Identity
// configuration it writes (Lambda's WorkloadIdentityProvider).
func SetGoogleCredentials(path string) error {
	if err := os.Setenv(envGoogleCredentials, path); err != nil {
		return fmt.Errorf("%s: %w", envGoogleCredentials, err)
	}
	return nil
}

// SetFunctionTarget sets FUNCTION_TARGET, which the Functions Framework
// reads to serve one function at /, unless it is set already; it returns
// the target in effect. For a local run of the framework
// (functions/gcp/serve), where no platform sets it.
func SetFunctionTarget(def string) (string, error) {
	if t := strings.TrimSpace(os.Getenv(envFunctionTarget)); t != "" {
		return t, nil
	}
	if err := os.Setenv(envFunctionTarget, def); err != nil {
		return "", fmt.Errorf("%s: %w", envFunctionTarget, err)
	}
	return def, nil
}

// envFunctionTarget names the function a Cloud Functions instance serves
// (set by the platform).
const envFunctionTarget = "FUNCTION_TARGET"

// IsLoopback reports whether host (a name or an IP, no port) is this
// machine: the only place a plaintext endpoint that carries a key or an
// unauthenticated emulator may be.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostPort checks an emulator switch: host:port (the form Google's
// libraries take for *_EMULATOR_HOST).
func hostPort(name, s string) error {
	if s == "" {
		return nil
	}
	if h, p, err := net.SplitHostPort(s); err != nil || h == "" || p == "" {
		return fmt.Errorf("%s %q: want host:port", name, s)
	}
	return nil
}

// loopbackHostPort checks a test stand-in's switch: plaintext and
// unauthenticated, acceptable only where nothing leaves the machine.
func loopbackHostPort(name, s string) error {
	if s == "" {
		return nil
	}
	if h, _, err := net.SplitHostPort(s); err != nil || !IsLoopback(h) {
		return fmt.Errorf("%s=%q: want a loopback host:port", name, s)
	}
	return nil
}

// httpURL checks a variable that holds an http(s) URL.
func httpURL(name, s string) error {
	if s == "" {
		return nil
	}
	if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s %q: want an http(s) URL", name, s)
	}
	return nil
}
