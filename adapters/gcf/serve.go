package gcf

import "github.com/geminiwebhooks/receiver/adapters/internal/env"

// LocalTarget prepares a local run of the Functions Framework, as the Cloud
// Functions Go buildpack's generated main runs it in production
// (functions/gcp/serve): FUNCTION_TARGET defaults to EntryPoint, so the
// function answers at / as deployed. It returns the target and the port to
// serve on 127.0.0.1 (PORT, default 8080). The Functions Framework's server
// stays out of this package, so a deployed function links only what the
// buildpack's main adds.
func LocalTarget() (target, port string, err error) {
	target, err = env.SetFunctionTarget(EntryPoint)
	if err != nil {
		return "", "", err
	}
	// The function reports its own configuration mistakes (at ERROR, and
	// 500 to each delivery); only PORT matters here.
	cfg, _ := env.Load(env.Getenv, env.Serverless)
	return target, cfg.Port, nil
}
