package testenv

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// MakeAsSAM runs a Makefile target the way SAM's makefile builder does for
// `sam build` (BuildMethod: makefile): in a scratch folder, --makefile
// naming the original file, ARTIFACTS_DIR set, and sam's own environment,
// whose PWD is caller, the folder the shell started sam build from. pkg,
// when set, is LAMBDA_PACKAGE (as a user sets it on sam's command line);
// vars are make variables given after the target (VAR=value). It returns
// make's output.
func MakeAsSAM(makefile, target, caller, pkg, artifacts string, vars ...string) (string, error) {
	scratch, err := os.MkdirTemp("", "sam-scratch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	cmd := exec.Command("make", append([]string{"--makefile", makefile, target}, vars...)...)
	cmd.Dir = scratch
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PWD=") && !strings.HasPrefix(kv, "LAMBDA_PACKAGE=") && !strings.HasPrefix(kv, "ARTIFACTS_DIR=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "ARTIFACTS_DIR="+artifacts, "PWD="+caller)
	if pkg != "" {
		cmd.Env = append(cmd.Env, "LAMBDA_PACKAGE="+pkg)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CheckBootstrap reports how bin differs from what Lambda's
// provided.al2023 runtime on arm64 runs: a static linux/arm64 ELF, built
// from the main package mainPath with CGO_ENABLED=0 and -tags lambda.norpc.
func CheckBootstrap(bin, mainPath string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("bootstrap is not an ELF binary: %w", err)
	}
	defer f.Close()
	var errs []error
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
		errs = append(errs, fmt.Errorf("bootstrap is %v %v, want 64-bit AArch64", f.Class, f.Machine))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			errs = append(errs, errors.New("bootstrap is dynamically linked (PT_INTERP): CGO_ENABLED=0 did not hold"))
		}
	}
	// The build tag and the main package are in the binary's build info.
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("go version -m: %w\n%s", err, out))...)
	}
	for _, want := range []string{"-tags=lambda.norpc", "CGO_ENABLED=0", "GOARCH=arm64", "GOOS=linux", "\tpath\t" + mainPath + "\n"} {
		if !strings.Contains(string(out), want) {
			errs = append(errs, fmt.Errorf("build info lacks %q:\n%s", want, out))
		}
	}
	return errors.Join(errs...)
}
