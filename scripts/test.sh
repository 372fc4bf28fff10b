#!/usr/bin/env bash
# The project's one test command (README, .ci/run). It installs what the tests
# need, then runs them; the tests start and stop their own emulators
# (Firestore, Pub/Sub, moto_server, the Lambda RIE) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
for tool in go node npm gcloud java moto_server cfn-lint make; do
  command -v "$tool" >/dev/null || { echo "missing $tool: this machine kind ships it (see README, Testing)"; exit 1; }
done
# The emulators ship as gcloud components; fail early with a clear message.
gcloud emulators firestore start --help >/dev/null 2>&1 || { echo "gcloud Firestore emulator component missing"; exit 1; }

# One build configuration for everything the suite compiles: the test
# binaries, and the binaries the tests build and run (the Lambda bootstrap is
# CGO_ENABLED=0; -trimpath keeps cached packages valid across the temporary
# folders deploy/gcp stages). Any difference here would compile the whole
# dependency graph once more on a cold cache.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"

step "Chromium (the inspector's browser tests drive it headless)"
# Debian's chromium package; CI runs as root. The tests fail, naming this
# step, when it is missing.
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
  else
    echo "chromium is missing and this is not root: install it with sudo apt-get install -y chromium"; exit 1
  fi
fi

step "Go modules (once, so the tests that stage vendor/ or build offline find them)"
go mod download

step "npm packages (standardwebhooks@1.1.1 for the cross-language check)"
npm ci --prefix scripts/node --no-audit --no-fund --loglevel=error

step "Go tools (AWS Lambda Runtime Interface Emulator, staticcheck)"
GOFLAGS= go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
# staticcheck 2026.1.x (v0.8) is the first to understand Go 1.26.
GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
export PATH="$(go env GOPATH)/bin:$PATH"

step "go.mod tidy, gofmt, go vet, staticcheck"
# A module that is not tidy misleads users' go mod tidy and hides what is
# imported directly; -diff changes nothing and fails on any difference.
go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/node/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
staticcheck ./...

step "tests"
go test -count=1 -timeout 20m ./...

step "short fuzz runs"
# A count, not a duration: with a duration, Go 1.26's fuzzing coordinator can
# report its own deadline as a failure when a loaded machine's worker is
# mid-run as the time ends (go.dev/issue/75804, fixed in Go 1.27), with no
# failing input. A count has no deadline to race; 200,000 runs take about
# ten seconds a target here.
for target in FuzzParseStaticSignatures FuzzStaticVerify FuzzParseEvent FuzzDetectScheme; do
  go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZTIME:-200000x}" ./core
done
