#!/usr/bin/env bash
# Deploys the receiver as three Cloud Functions (gen2): GeminiWebhook (HTTP)
# verifies, claims and publishes each delivery to a Pub/Sub topic,
# GeminiWorker (triggered by the topic, with --retry) acts on it, and
# GeminiReconcile (HTTP, not public) is called every 15 minutes by a Cloud
# Scheduler job with an OIDC token to apply what the webhooks missed and
# check the webhooks' health; it needs the Gemini API key, so it and its
# job are deployed only when FUNCTION_SECRETS gives GEMINI_API_KEY.
#
#   deploy/gcp/deploy.sh [--dry-run] [--project P] [--region R] [--package DIR]
#
# --package DIR deploys your own code: DIR is the package of your module
# (its own go.mod, requiring this one) whose init calls gcf.Register; the
# default is this repository's functions/gcp (no handlers of its own).
#
# Idempotent: every run converges the project to the same state (APIs on, a
# least-privilege service account, the signing secret, the Firestore TTL
# policy, the topic and its dead-letter topic, both functions, the trigger
# subscription's dead-letter policy and the IAM the Pub/Sub service agent
# needs for it) and reuses what already exists.
#
# --dry-run needs no credentials and calls no cloud API: it stages the
# --source folder, prints every command a real run performs (one per line,
# prefixed "+ "), leaves the folder in place and names it.
#
# Environment (flags override the first two):
#   GOOGLE_CLOUD_PROJECT   project (real runs fall back to `gcloud config get-value project`)
#   REGION                 function region, e.g. us-central1
#   WEBHOOK_SIGNING_SECRET whsec_ secret(s) to store in Secret Manager (a new version when it
#                          differs from the latest); unset: the secret must exist already
#   SECRET_NAME            Secret Manager secret of WEBHOOK_SIGNING_SECRET [gemini-webhook-signing-secret]
#   FUNCTION_SECRETS       secrets for GeminiWorker, VAR=secret-name,… e.g.
#                          GEMINI_API_KEY=gemini-api-key,SLACK_WEBHOOK_URL=slack-webhook-url
#                          (the secrets must exist; the service account may read only these)
#   SERVICE_ACCOUNT_NAME   runtime service account id      [gemini-webhook-receiver]
#   FIRESTORE_DATABASE     Firestore database              [(default)]
#   FIRESTORE_COLLECTION   idempotency collection          [gemini_webhook_deliveries]
#   FIRESTORE_LOCATION     location if the database must be created [$REGION]
#   GCF_CONCURRENCY GCF_CPU GCF_MEMORY GCF_TIMEOUT GCF_MIN_INSTANCES GCF_MAX_INSTANCES
#                          GeminiWebhook's sizing [80, 1, 512Mi, 60s, 0, 10]
#   WORKER_CONCURRENCY WORKER_MEMORY WORKER_TIMEOUT WORKER_MAX_INSTANCES
#                          GeminiWorker's sizing [4, 1Gi, 540s (the most an event-driven function gets), 10]
#   RECONCILE_SCHEDULE     GeminiReconcile's Cloud Scheduler cron  [*/15 * * * *]
#   SCHEDULER_SERVICE_ACCOUNT_NAME  the scheduler job's identity, invoker of GeminiReconcile only
#                          [gemini-webhook-scheduler]
#   PUBSUB_TOPIC           topic GeminiWebhook publishes to (QUEUE)   [gemini-webhook-events]
#   DEAD_LETTER_TOPIC      where messages go after MAX_DELIVERY_ATTEMPTS [$PUBSUB_TOPIC-dead-letter];
#                          its subscription $DEAD_LETTER_TOPIC-sub keeps them 7 days
#   MAX_DELIVERY_ATTEMPTS  deliveries of a message to GeminiWorker, 5 to 100 [5]
#   STAGE_DIR              where to stage --source [deploy/gcp/.build/source]
#   MONITORING_DIR         where to write the log-based metric and alert policy files
#                          [beside STAGE_DIR: deploy/gcp/.build/monitoring]
#   ALERT_CHANNELS         notification channels of the alert policies, comma separated
#                          projects/P/notificationChannels/ID [none: the alerts show in the console]
#   FAILED_BURST_THRESHOLD REJECTED_BURST_THRESHOLD
#                          failed / rejected deliveries in 5 minutes that raise an alert [10, 20]
#   WEBHOOK_AUDIENCE WEBHOOK_ISSUER WEBHOOK_JWKS_URL WEBHOOK_TOLERANCE WEBHOOK_MAX_BODY_BYTES
#   IDEMPOTENCY_TTL RESULTS_SINK FORWARD_URL FIRESTORE_JOBS_COLLECTION
#                          passed to the function when set (README, Configuration); a gs:// RESULTS_SINK
#                          also lets the service account use objects in that bucket
set -euo pipefail
unset CDPATH # cd prints the folder it finds through CDPATH, which would corrupt $(cd …; pwd)

readonly FUNCTION=GeminiWebhook # function name and entry point (functions/gcp.EntryPoint)
readonly WORKER=GeminiWorker    # functions/gcp.WorkerEntryPoint
readonly RECONCILE=GeminiReconcile # gcf.ReconcileEntryPoint
readonly RECONCILE_JOB=gemini-webhook-reconcile
readonly RUNTIME=go126          # aws-lambda-go in go.mod needs go 1.26
readonly EVENTS=batch.succeeded,batch.failed,batch.expired,interaction.requires_action,interaction.completed,interaction.failed,video.generated
readonly PASS_THROUGH="WEBHOOK_AUDIENCE WEBHOOK_ISSUER WEBHOOK_JWKS_URL WEBHOOK_TOLERANCE WEBHOOK_MAX_BODY_BYTES IDEMPOTENCY_TTL RESULTS_SINK FORWARD_URL FIRESTORE_JOBS_COLLECTION"

die() { printf 'deploy.sh: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

dry_run=false
package_dir=''
project=${GOOGLE_CLOUD_PROJECT:-}
region=${REGION:-}
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=true ;;
    --project) [ $# -ge 2 ] || die "--project needs a value"; project=$2; shift ;;
    --project=*) project=${1#*=} ;;
    --region) [ $# -ge 2 ] || die "--region needs a value"; region=$2; shift ;;
    --region=*) region=${1#*=} ;;
    --package) [ $# -ge 2 ] || die "--package needs a directory"; package_dir=$2; shift ;;
    --package=*) package_dir=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
stage=${STAGE_DIR:-$repo/deploy/gcp/.build/source}

# The package to deploy and the module it belongs to.
command -v go >/dev/null || die "go not found: staging needs the Go toolchain"
package_dir=${package_dir:-$repo/functions/gcp}
[ -d "$package_dir" ] || die "--package $package_dir: no such directory"
package_dir=$(cd "$package_dir" && pwd)
gomod=$(cd "$package_dir" && GOWORK=off go env GOMOD)
[ -n "$gomod" ] && [ "$gomod" != /dev/null ] || die "--package $package_dir is in no Go module (no go.mod above it)"
module_root=$(dirname "$gomod")
module=$(cd "$module_root" && GOWORK=off go list -m) || die "cannot read the module of $package_dir"
[[ ${module%%/*} == *.* ]] || die "module $module: the Cloud Functions buildpack needs a module path with a dot in its first element (e.g. example.com/you/app)"
package_path=$(cd "$package_dir" && GOWORK=off go list -f '{{.ImportPath}} {{.Name}}' .) || die "--package $package_dir: not a Go package"
[[ $package_path != *" main" ]] || die "--package $package_dir is a main package: give the package whose init calls gcf.Register"
package_path=${package_path% *}
(cd "$package_dir" && GOWORK=off GOOS=linux GOARCH=amd64 go list -deps . | grep -qx github.com/geminiwebhooks/receiver/adapters/gcf) ||
  die "--package $package_dir does not import github.com/geminiwebhooks/receiver/adapters/gcf: its init must call gcf.Register"
# The staged root package is named function (see stage_source); a staged
# folder of that name at the module's root would stand where the buildpack
# looks for it.
(cd "$package_dir" && GOWORK=off GOOS=linux GOARCH=amd64 go list -deps -f '{{if and .Module .Module.Main}}{{.ImportPath}}{{end}}' . |
  grep -qx -e "$module/function" -e "$module/function/.*") &&
  die "--package $package_dir: your module's top-level folder function/ would be staged where the Cloud Functions buildpack puts its root package (named function); rename the folder (e.g. fn/)"

secret_name=${SECRET_NAME:-gemini-webhook-signing-secret}
sa_name=${SERVICE_ACCOUNT_NAME:-gemini-webhook-receiver}
database=${FIRESTORE_DATABASE:-(default)}
collection=${FIRESTORE_COLLECTION:-gemini_webhook_deliveries} # core.DefaultFirestoreCollection
# Sizing: concurrency above 1 needs a whole CPU; 60 s matches core.DefaultLease,
# the claim lease used when a request carries no deadline.
concurrency=${GCF_CONCURRENCY:-80}
cpu=${GCF_CPU:-1}
memory=${GCF_MEMORY:-512Mi}
timeout=${GCF_TIMEOUT:-60s}
min_instances=${GCF_MIN_INSTANCES:-0}
max_instances=${GCF_MAX_INSTANCES:-10}
# The worker lands outputs (minutes for a large batch): few at a time per
# instance, the longest timeout an event-driven function may have.
worker_concurrency=${WORKER_CONCURRENCY:-4}
worker_memory=${WORKER_MEMORY:-1Gi}
worker_timeout=${WORKER_TIMEOUT:-540s}
worker_max_instances=${WORKER_MAX_INSTANCES:-10}
topic=${PUBSUB_TOPIC:-gemini-webhook-events}
dead_letter_topic=${DEAD_LETTER_TOPIC:-$topic-dead-letter}
dead_letter_sub=$dead_letter_topic-sub
max_attempts=${MAX_DELIVERY_ATTEMPTS:-5}

# ---------------------------------------------------------------- commands

# quote prints its arguments as one shell-ready line.
quote() {
  local out='' a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  printf '%s' "${out# }"
}

# Commands are echoed on fd 3 (this script's stdout) so that probes whose
# output is captured still show what they ran.
exec 3>&1

# run prints a command and, unless this is a dry run, runs it. --note says
# when a real run performs it; --stdin-secret feeds WEBHOOK_SIGNING_SECRET
# to it, so the value never appears on a command line or in this output.
run() {
  local note='' secret=false
  while :; do
    case $1 in
      --note) note+="${note:+; }$2"; shift 2 ;;
      --stdin-secret) secret=true; note+="${note:+; }value: WEBHOOK_SIGNING_SECRET, on stdin"; shift ;;
      *) break ;;
    esac
  done
  printf '+ %s%s\n' "$(quote "$@")" "${note:+  # $note}" >&3
  if $dry_run; then return 0; fi
  if $secret; then printf '%s' "$WEBHOOK_SIGNING_SECRET" | "$@"; else "$@"; fi
}

# probe runs a read-only command, its stderr silenced. In a dry run it only
# prints it and fails, as if nothing existed yet, so that every command a
# first deployment needs is shown.
probe() {
  printf '+ %s\n' "$(quote "$@")" >&3
  if $dry_run; then return 1; fi
  "$@" 2>/dev/null
}

# ---------------------------------------------------------------- staging

# stage_source prepares the folder gcloud uploads. The Go buildpack builds
# only a non-main package at the root of --source, next to go.mod; the
# module's root may hold none, so the folder is a copy: go.mod and go.sum,
# the module's packages that the deployed package links (no tests), a
# generated root package that blank-imports it, and vendor/ holding every
# dependency, this receiver and funcframework included (the buildpack
# insists on the latter).
stage_source() {
  # The default lies in the receiver's folder, read-only when it comes from
  # the module cache rather than a checkout.
  rm -rf "$stage" 2>/dev/null && mkdir -p "$stage" 2>/dev/null ||
    die "STAGE_DIR $stage: cannot (re)create it; set STAGE_DIR to a writable folder, e.g. STAGE_DIR=\"\$PWD/.build/gcf-source\""
  cp "$module_root/go.mod" "$module_root/go.sum" "$stage/"
  # The function needs none of the module's tools (go tool gemini-webhooks,
  # say), and a tool among the module's own packages is not staged: drop them.
  local tool
  for tool in $(cd "$stage" && go mod edit -json | tr -d ' \t' | sed -n '/^"Tool":\[/,/^\]/s/^"Path":"\([^"]*\)".*/\1/p'); do
    (cd "$stage" && go mod edit "-droptool=$tool") || die "cannot drop tool $tool from the staged go.mod"
  done
  # A replace by a relative folder (../receiver) means the same folder from
  # the staged copy: make it absolute. vendor/ then holds its packages, and
  # the buildpack never reads the folder itself.
  local old new
  while IFS=$'\t' read -r old new; do
    [ -n "$old" ] || continue
    (cd "$stage" && go mod edit "-replace=$old=$(cd "$module_root" && cd "$new" && pwd)") ||
      die "cannot rewrite the replace of $old in the staged go.mod"
  done < <(cd "$module_root" && go mod edit -json | tr -d ' \t\n' |
    grep -o '"Old":{"Path":"[^"]*"\(,"Version":"[^"]*"\)\{0,1\}},"New":{"Path":"\.[^"]*"}' |
    sed 's/^"Old":{"Path":"\([^"]*\)".*"New":{"Path":"\([^"]*\)"}$/\1\t\2/')

  # The files Cloud Build compiles: linux/amd64, whatever this machine is.
  local dir files f rel
  while IFS=$'\t' read -r dir files; do
    rel=${dir#"$module_root"/}
    mkdir -p "$stage/$rel"
    for f in $files; do
      mkdir -p "$(dirname "$stage/$rel/$f")"
      cp "$dir/$f" "$stage/$rel/$f"
    done
  done < <(cd "$module_root" && GOOS=linux GOARCH=amd64 GOWORK=off go list -deps \
    -f '{{if and .Module .Module.Main}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}} {{join .CgoFiles " "}} {{join .IgnoredGoFiles " "}} {{join .EmbedFiles " "}}{{end}}' \
    "$package_path")

  cat >"$stage/function.go" <<EOF
// Code generated by deploy/gcp/deploy.sh; DO NOT EDIT.

// Package function is the root package the Cloud Functions Go buildpack
// builds. Importing $package_path registers $FUNCTION and $WORKER; importing the
// Functions Framework here makes the buildpack use its declarative main
// (blank import + funcframework.Start) and keeps funcframework in vendor/.
package function

import (
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	_ "$package_path"
)
EOF
  cat >"$stage/.gcloudignore" <<'EOF'
# Generated by deploy/gcp/deploy.sh: upload everything staged here, vendor/ included.
.gcloudignore
EOF

  # The generated package imports funcframework, which the user's module
  # need not import: its go.sum, tidied without it, may lack the sums of
  # what funcframework links. Resolve them here, in the copy (the module
  # proxy or cache as the go command is configured), never in the user's
  # files; tidy keeps every version the user's build selected.
  (cd "$stage" && GOFLAGS= GOWORK=off go mod tidy) ||
    die "go mod tidy failed in the staged copy $stage (resolving what the generated root package imports)"
  (cd "$stage" && GOFLAGS= GOWORK=off go mod vendor) || die "go mod vendor failed in $stage"
  [ -d "$stage/vendor/github.com/GoogleCloudPlatform/functions-framework-go/funcframework" ] ||
    die "vendor/ lacks functions-framework-go/funcframework; the buildpack would reject it"
  # The folder alone must resolve every import, offline.
  (cd "$stage" && GOFLAGS=-mod=vendor GOPROXY=off GOWORK=off GOOS=linux GOARCH=amd64 go list -deps . >/dev/null) ||
    die "the staged folder does not build from vendor/ alone"
}

# ---------------------------------------------------------------- checks

# Every mistake is collected and reported together, so that one run names
# them all; nothing is staged or called before they are fixed.
problems=()
problem() { problems+=("$*"); }

[ -n "$region" ] || problem "no region: set REGION or pass --region (e.g. us-central1)"
if [ -z "$project" ]; then
  if $dry_run; then
    problem "no project: set GOOGLE_CLOUD_PROJECT or pass --project"
  else
    project=$(gcloud config get-value project 2>/dev/null) || true
    [ -n "$project" ] || problem "no project: set GOOGLE_CLOUD_PROJECT, pass --project or run gcloud config set project P"
  fi
fi
if [ -n "${WEBHOOK_SIGNING_SECRET:-}" ]; then
  for s in ${WEBHOOK_SIGNING_SECRET//,/ }; do
    if [[ $s != whsec_?* ]]; then
      problem "WEBHOOK_SIGNING_SECRET: every entry must start with whsec_ (the value Gemini returned)"
      break
    fi
  done
fi
[[ $max_attempts =~ ^[0-9]+$ ]] && [ "$max_attempts" -ge 5 ] && [ "$max_attempts" -le 100 ] ||
  problem "MAX_DELIVERY_ATTEMPTS $max_attempts: Pub/Sub takes 5 to 100"
for t in "$topic" "$dead_letter_topic"; do
  [[ $t =~ ^[A-Za-z][-A-Za-z0-9_.~+%]{2,254}$ ]] && [[ $t != goog* ]] ||
    problem "PUBSUB_TOPIC / DEAD_LETTER_TOPIC: \"$t\" is not a Pub/Sub topic id"
done
firestore_location=${FIRESTORE_LOCATION:-$region}
sa_email="$sa_name@$project.iam.gserviceaccount.com"

# The functions' environment (README, Configuration) and secrets. Both read the same
# configuration; GeminiWebhook gets only the signing secret, GeminiWorker
# only FUNCTION_SECRETS (the Gemini API key, notification URLs).
env_vars="IDEMPOTENCY_STORE=firestore,GOOGLE_CLOUD_PROJECT=$project,FIRESTORE_DATABASE=$database,FIRESTORE_COLLECTION=$collection,QUEUE=pubsub:projects/$project/topics/$topic"
for v in $PASS_THROUGH; do
  if [ -n "${!v:-}" ]; then
    if [[ ${!v} == *,* ]]; then
      problem "$v contains ',', which --set-env-vars cannot carry"
      continue
    fi
    env_vars+=",$v=${!v}"
  fi
done
secrets="WEBHOOK_SIGNING_SECRET=$secret_name:latest"
worker_secrets=''
extra_secrets=()
worker_has_key=false
function_secrets=${FUNCTION_SECRETS:-}
for kv in ${function_secrets//,/ }; do
  if ! [[ $kv =~ ^([A-Z][A-Z0-9_]*)=([A-Za-z0-9_-]+)$ ]]; then
    problem "FUNCTION_SECRETS: \"$kv\" is not VAR=secret-name"
    continue
  fi
  if [ "${BASH_REMATCH[1]}" = WEBHOOK_SIGNING_SECRET ]; then
    problem "FUNCTION_SECRETS: WEBHOOK_SIGNING_SECRET comes from SECRET_NAME"
    continue
  fi
  case ${BASH_REMATCH[1]} in GEMINI_API_KEY | GOOGLE_API_KEY) worker_has_key=true ;; esac
  worker_secrets+="${worker_secrets:+,}${BASH_REMATCH[1]}=${BASH_REMATCH[2]}:latest"
  extra_secrets+=("${BASH_REMATCH[2]}")
done
# RESULTS_SINK, for Google Cloud: a gs:// bucket. An s3:// sink belongs to
# the AWS deployment (the function would refuse it at start), another
# scheme to no sink, and a folder would vanish with the instance.
sink_bucket=''
if [ -n "${RESULTS_SINK:-}" ]; then
  case $RESULTS_SINK in
    gs://*)
      sink_bucket=${RESULTS_SINK#gs://}
      sink_bucket=${sink_bucket%%/*}
      [ -n "$sink_bucket" ] || problem "RESULTS_SINK $RESULTS_SINK names no bucket: want gs://BUCKET[/PREFIX]"
      ;;
    s3://*) problem "RESULTS_SINK $RESULTS_SINK: s3:// is the AWS deployment's sink; Cloud Functions land in gs://BUCKET[/PREFIX]" ;;
    *://*) problem "RESULTS_SINK $RESULTS_SINK: unknown scheme; Cloud Functions land in gs://BUCKET[/PREFIX]" ;;
    *) problem "RESULTS_SINK $RESULTS_SINK: a folder would be lost with the function's instance; Cloud Functions land in gs://BUCKET[/PREFIX]" ;;
  esac
fi
failed_burst=${FAILED_BURST_THRESHOLD:-10}
rejected_burst=${REJECTED_BURST_THRESHOLD:-20}
for v in failed_burst rejected_burst; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || problem "${v^^}_THRESHOLD ${!v}: want a whole number of deliveries, at least 1"
done
alert_channels=()
alert_channels_in=${ALERT_CHANNELS:-}
for c in ${alert_channels_in//,/ }; do
  if [[ $c =~ ^projects/[^/]+/notificationChannels/[0-9]+$ ]]; then alert_channels+=("$c"); else
    problem "ALERT_CHANNELS: \"$c\" is not projects/P/notificationChannels/ID"
  fi
done
if [ ${#problems[@]} -gt 0 ]; then
  printf 'deploy.sh: %s\n' "${problems[@]}" >&2
  printf 'deploy.sh: %d problem(s) above; nothing was staged or deployed (see --help)\n' "${#problems[@]}" >&2
  exit 1
fi

# ---------------------------------------------------------------- deploy

stage_source
if $dry_run; then
  echo "# dry run: nothing below is executed and no cloud API is called; a real run performs these commands in order."
fi

# APIs the deployment uses; enabling an enabled API is a no-op.
run gcloud services enable cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com firestore.googleapis.com secretmanager.googleapis.com \
  pubsub.googleapis.com eventarc.googleapis.com cloudscheduler.googleapis.com "--project=$project"

# Runtime identity of both functions: a Firestore user, the accessor of its
# own secrets, the publisher of its topic and the invoker of the worker.
if ! probe gcloud iam service-accounts describe "$sa_email" "--project=$project" "--format=value(email)"; then
  run --note "if the service account does not exist" \
    gcloud iam service-accounts create "$sa_name" "--display-name=Gemini webhook receiver" "--project=$project"
fi
run gcloud projects add-iam-policy-binding "$project" "--member=serviceAccount:$sa_email" \
  --role=roles/datastore.user --condition=None --quiet --format=none

# Firestore: the database, and the TTL policy that deletes expired idempotency records.
if ! probe gcloud firestore databases describe "--database=$database" "--project=$project" "--format=value(name)"; then
  run --note "if the database does not exist" \
    gcloud firestore databases create "--database=$database" "--location=$firestore_location" --type=firestore-native "--project=$project"
fi
ttl_state=$(probe gcloud firestore fields ttls list "--collection-group=$collection" "--database=$database" "--project=$project" \
  "--format=value(name,ttlConfig.state)" || true)
if ! grep -Eq "/fields/expireAt[[:space:]]+(ACTIVE|CREATING)" <<<"$ttl_state"; then
  run --note "if expireAt is not yet the TTL field" \
    gcloud firestore fields ttls update expireAt "--collection-group=$collection" "--database=$database" --enable-ttl --async "--project=$project"
fi

# The signing secret: a new version only when WEBHOOK_SIGNING_SECRET differs from the latest.
# The function's URL is known before it exists, so Gemini can be told first.
url="https://$region-$project.cloudfunctions.net/$FUNCTION"
register() { echo "go tool gemini-webhooks create --if-absent --uri $1 --events $EVENTS --secret-out gcp-secret:projects/$project/secrets/$secret_name"; }
if probe gcloud secrets describe "$secret_name" "--project=$project" "--format=value(name)"; then
  if [ -n "${WEBHOOK_SIGNING_SECRET:-}" ] &&
    [ "$(probe gcloud secrets versions access latest "--secret=$secret_name" "--project=$project" || true)" != "$WEBHOOK_SIGNING_SECRET" ]; then
    run --stdin-secret gcloud secrets versions add "$secret_name" --data-file=- "--project=$project"
  fi
elif $dry_run; then
  run --note "if the secret does not exist" --stdin-secret \
    gcloud secrets create "$secret_name" --replication-policy=automatic --data-file=- "--project=$project"
  probe gcloud secrets versions access latest "--secret=$secret_name" "--project=$project" || true
  run --note "if WEBHOOK_SIGNING_SECRET is set and differs from the latest version" --stdin-secret \
    gcloud secrets versions add "$secret_name" --data-file=- "--project=$project"
elif [ -n "${WEBHOOK_SIGNING_SECRET:-}" ]; then
  run --stdin-secret gcloud secrets create "$secret_name" --replication-policy=automatic --data-file=- "--project=$project"
else
  cat >&2 <<MSG
deploy.sh: the secret $secret_name does not exist yet in $project, and WEBHOOK_SIGNING_SECRET is unset.
Register the function's URL with Gemini first; this stores the webhook's whsec_ secret in that secret:
  $(register "$url")
then run this script again.
MSG
  exit 1
fi
run gcloud secrets add-iam-policy-binding "$secret_name" "--member=serviceAccount:$sa_email" \
  --role=roles/secretmanager.secretAccessor "--project=$project" --format=none
for name in ${extra_secrets[@]+"${extra_secrets[@]}"}; do
  if ! probe gcloud secrets describe "$name" "--project=$project" "--format=value(name)" && ! $dry_run; then
    die "FUNCTION_SECRETS names $name, which does not exist: printf %s VALUE | gcloud secrets create $name --data-file=- --project=$project"
  fi
  run gcloud secrets add-iam-policy-binding "$name" "--member=serviceAccount:$sa_email" \
    --role=roles/secretmanager.secretAccessor "--project=$project" --format=none
done
if [ -n "$sink_bucket" ]; then
  # Results land in this bucket only: read, create and replace objects there.
  run gcloud storage buckets add-iam-policy-binding "gs://$sink_bucket" "--member=serviceAccount:$sa_email" \
    --role=roles/storage.objectUser --format=none
fi

# The queue: the topic, and the dead-letter topic with a subscription that
# keeps what lands there (a topic without one drops its messages).
for t in "$topic" "$dead_letter_topic"; do
  if ! probe gcloud pubsub topics describe "$t" "--project=$project" "--format=value(name)"; then
    run --note "if the topic does not exist" gcloud pubsub topics create "$t" "--project=$project"
  fi
done
if ! probe gcloud pubsub subscriptions describe "$dead_letter_sub" "--project=$project" "--format=value(name)"; then
  run --note "if the subscription does not exist" \
    gcloud pubsub subscriptions create "$dead_letter_sub" "--topic=$dead_letter_topic" \
    --message-retention-duration=7d --expiration-period=never "--project=$project"
fi
run gcloud pubsub topics add-iam-policy-binding "$topic" "--member=serviceAccount:$sa_email" \
  --role=roles/pubsub.publisher "--project=$project" --format=none

# The worker first: its trigger's subscription must exist before the
# receiver publishes, or the topic would drop what it is sent. --retry makes
# Pub/Sub redeliver an event the worker fails (without it the event is dropped).
worker_secret_flag=--clear-secrets
[ -z "$worker_secrets" ] || worker_secret_flag="--set-secrets=$worker_secrets"
run gcloud functions deploy "$WORKER" --gen2 "--runtime=$RUNTIME" "--region=$region" "--project=$project" \
  "--source=$stage" "--entry-point=$WORKER" "--trigger-topic=$topic" --retry \
  "--trigger-service-account=$sa_email" "--service-account=$sa_email" "$worker_secret_flag" "--set-env-vars=$env_vars" \
  "--concurrency=$worker_concurrency" --cpu=1 "--memory=$worker_memory" "--timeout=$worker_timeout" \
  --min-instances=0 "--max-instances=$worker_max_instances" --quiet
# The trigger pushes to the worker as the service account, which may invoke nothing else.
run gcloud functions add-invoker-policy-binding "$WORKER" "--region=$region" "--project=$project" \
  "--member=serviceAccount:$sa_email" --format=none

# The trigger's subscription (Eventarc made it): bounded attempts, then the
# dead-letter topic; backoff between attempts. Applied on every run, as a
# redeploy may recreate the trigger.
trigger=TRIGGER
subscription=EVENTARC_SUBSCRIPTION
placeholder_note=''
$dry_run && placeholder_note="TRIGGER, EVENTARC_SUBSCRIPTION, PROJECT_NUMBER: what the describes above return"
if t=$(probe gcloud functions describe "$WORKER" --gen2 "--region=$region" "--project=$project" "--format=value(eventTrigger.trigger)") && [ -n "$t" ]; then
  trigger=$t
elif ! $dry_run; then
  die "cannot find the Eventarc trigger of $WORKER"
fi
if sub=$(probe gcloud eventarc triggers describe "$trigger" "--location=$region" "--project=$project" "--format=value(transport.pubsub.subscription)") && [ -n "$sub" ]; then
  subscription=$sub
elif ! $dry_run; then
  die "cannot find the Pub/Sub subscription of the trigger $trigger"
fi
run --note "$placeholder_note" gcloud pubsub subscriptions update "$subscription" "--dead-letter-topic=projects/$project/topics/$dead_letter_topic" \
  "--max-delivery-attempts=$max_attempts" --min-retry-delay=10s --max-retry-delay=600s "--project=$project"

# Dead-lettering is done by the Pub/Sub service agent: it must publish to
# the dead-letter topic and acknowledge on the trigger's subscription.
project_number=PROJECT_NUMBER
if n=$(probe gcloud projects describe "$project" "--format=value(projectNumber)") && [ -n "$n" ]; then
  project_number=$n
elif ! $dry_run; then
  die "cannot read the project number of $project"
fi
agent="service-$project_number@gcp-sa-pubsub.iam.gserviceaccount.com"
run --note "$placeholder_note" gcloud pubsub topics add-iam-policy-binding "$dead_letter_topic" "--member=serviceAccount:$agent" \
  --role=roles/pubsub.publisher "--project=$project" --format=none
run --note "$placeholder_note" gcloud pubsub subscriptions add-iam-policy-binding "$subscription" "--member=serviceAccount:$agent" \
  --role=roles/pubsub.subscriber "--project=$project" --format=none

# The receiver. Public ingress: Gemini calls it, and the signature is the authentication.
run gcloud functions deploy "$FUNCTION" --gen2 "--runtime=$RUNTIME" "--region=$region" "--project=$project" \
  "--source=$stage" "--entry-point=$FUNCTION" --trigger-http --allow-unauthenticated \
  "--service-account=$sa_email" "--set-secrets=$secrets" "--set-env-vars=$env_vars" \
  "--concurrency=$concurrency" "--cpu=$cpu" "--memory=$memory" "--timeout=$timeout" \
  "--min-instances=$min_instances" "--max-instances=$max_instances" --quiet

if u=$(probe gcloud functions describe "$FUNCTION" --gen2 "--region=$region" "--project=$project" "--format=value(url)") && [ -n "$u" ]; then
  url=$u
fi

# The reconcile. Not public: without --allow-unauthenticated Cloud Run's IAM
# refuses any call that lacks an OIDC token of an invoker, before the code
# runs. It reads what GeminiWorker reads (FUNCTION_SECRETS: the Gemini API
# key) and knows the receiver's URL (RECEIVER_URL) to check the webhooks.
# Without the key every run would refuse to start, so neither the function
# nor its schedule is deployed then, and the output says why.
reconcile_skipped="GeminiReconcile and its Cloud Scheduler job are not deployed: the reconcile needs the Gemini API key, and FUNCTION_SECRETS names no GEMINI_API_KEY (or GOOGLE_API_KEY)"
if $worker_has_key; then
  reconcile_schedule=${RECONCILE_SCHEDULE:-*/15 * * * *}
  scheduler_sa_name=${SCHEDULER_SERVICE_ACCOUNT_NAME:-gemini-webhook-scheduler}
  scheduler_sa="$scheduler_sa_name@$project.iam.gserviceaccount.com"
  run gcloud functions deploy "$RECONCILE" --gen2 "--runtime=$RUNTIME" "--region=$region" "--project=$project" \
    "--source=$stage" "--entry-point=$RECONCILE" --trigger-http --no-allow-unauthenticated \
    "--service-account=$sa_email" "$worker_secret_flag" "--set-env-vars=$env_vars,RECEIVER_URL=$url" \
    --concurrency=1 --cpu=1 "--memory=$worker_memory" --timeout=540s --min-instances=0 --max-instances=1 --quiet
  reconcile_url="https://$region-$project.cloudfunctions.net/$RECONCILE"
  if u=$(probe gcloud functions describe "$RECONCILE" --gen2 "--region=$region" "--project=$project" "--format=value(url)") && [ -n "$u" ]; then
    reconcile_url=$u
  fi
  # The scheduler's own identity, which may invoke GeminiReconcile and nothing else.
  if ! probe gcloud iam service-accounts describe "$scheduler_sa" "--project=$project" "--format=value(email)"; then
    run --note "if the service account does not exist" \
      gcloud iam service-accounts create "$scheduler_sa_name" "--display-name=Gemini webhook reconcile scheduler" "--project=$project"
  fi
  run gcloud functions add-invoker-policy-binding "$RECONCILE" "--region=$region" "--project=$project" \
    "--member=serviceAccount:$scheduler_sa" --format=none
  scheduler_args=("--location=$region" "--project=$project" "--schedule=$reconcile_schedule" "--uri=$reconcile_url"
    --http-method=POST "--oidc-service-account-email=$scheduler_sa" "--oidc-token-audience=$reconcile_url"
    --attempt-deadline=600s --quiet)
  if probe gcloud scheduler jobs describe "$RECONCILE_JOB" "--location=$region" "--project=$project" "--format=value(name)"; then
    run gcloud scheduler jobs update http "$RECONCILE_JOB" "${scheduler_args[@]}"
  else
    run --note "if the job does not exist (else: gcloud scheduler jobs update http with the same flags)" \
      gcloud scheduler jobs create http "$RECONCILE_JOB" "${scheduler_args[@]}"
  fi
else
  echo "# $reconcile_skipped"
fi

# ---------------------------------------------------------------- monitoring

# Log-based metrics on the one line per delivery ("delivery", GeminiWebhook)
# and per queued event ("task", GeminiWorker), and alert policies on them
# and on the dead-letter subscription's backlog. Each is created once and
# updated from the same file on later runs. The files are written in every
# run, a dry run included, so they can be read before they are applied.
monitoring_dir=${MONITORING_DIR:-$(dirname "$stage")/monitoring}
mkdir -p "$monitoring_dir"
run gcloud services enable logging.googleapis.com monitoring.googleapis.com "--project=$project"
lines_filter='resource.type="cloud_run_revision" AND resource.labels.service_name=("'${FUNCTION,,}'" OR "'${WORKER,,}'")'
metric_prefix=gemini_webhook

write_metric() { # name description filter [distribution extractor unit]
  local f="$monitoring_dir/metric-$1.yaml"
  {
    printf 'description: %s\n' "'${2//\'/\'\'}'"
    printf 'filter: %s\n' "'${3//\'/\'\'}'"
    printf 'labelExtractors:\n  outcome: EXTRACT(jsonPayload.outcome)\n  line: EXTRACT(jsonPayload.message)\n'
    if [ $# -gt 3 ]; then
      printf 'valueExtractor: EXTRACT(%s)\n' "$4"
      printf 'bucketOptions:\n  exponentialBuckets:\n    numFiniteBuckets: 40\n    growthFactor: 2\n    scale: 1\n'
      printf 'metricDescriptor:\n  metricKind: DELTA\n  valueType: DISTRIBUTION\n  unit: %s\n' "$5"
    else
      printf 'metricDescriptor:\n  metricKind: DELTA\n  valueType: INT64\n  unit: "1"\n'
    fi
    printf '  labels:\n  - key: outcome\n  - key: line\n'
  } >"$f"
}
write_metric "${metric_prefix}_deliveries" "Deliveries (line=delivery) and queued events (line=task) by outcome" \
  "$lines_filter"' AND jsonPayload.message=("delivery" OR "task")'
write_metric "${metric_prefix}_latency" "latency_ms of each delivery and task line" \
  "$lines_filter"' AND jsonPayload.message=("delivery" OR "task") AND jsonPayload.latency_ms>=0' jsonPayload.latency_ms ms
write_metric "${metric_prefix}_landed_bytes" "Bytes landed in RESULTS_SINK" \
  "$lines_filter"' AND jsonPayload.message=("delivery" OR "task") AND jsonPayload.bytes>0' jsonPayload.bytes By
write_metric "${metric_prefix}_landing_failures" "Lines whose landing failed (landing_error)" \
  "$lines_filter"' AND jsonPayload.message=("delivery" OR "task") AND jsonPayload.landing_error:*'
write_metric "${metric_prefix}_dead_letters" "Events kept as dead letters" \
  "$lines_filter"' AND jsonPayload.outcome="dead_letter"'
write_metric "${metric_prefix}_misconfigured" "The functions' start-up ERROR line: misconfigured, every delivery answered 500" \
  "$lines_filter"' AND severity=ERROR AND jsonPayload.message:"misconfigured"'

for m in deliveries latency landed_bytes landing_failures dead_letters misconfigured; do
  name=${metric_prefix}_$m
  file="$monitoring_dir/metric-$name.yaml"
  if probe gcloud logging metrics describe "$name" "--project=$project" "--format=value(name)"; then
    run gcloud logging metrics update "$name" "--config-from-file=$file" "--project=$project"
  else
    run --note "if the metric does not exist; later runs update it from the same file" \
      gcloud logging metrics create "$name" "--config-from-file=$file" "--project=$project"
  fi
done

write_policy() { # file display-name documentation conditions-yaml
  {
    printf 'displayName: %s\n' "'$2'"
    printf 'combiner: OR\n'
    printf 'documentation:\n  mimeType: text/markdown\n  content: %s\n' "'${3//\'/\'\'}'"
    if [ ${#alert_channels[@]} -gt 0 ]; then
      printf 'notificationChannels:\n'
      printf -- '- %s\n' "${alert_channels[@]}"
    fi
    printf 'conditions:\n%s\n' "$4"
  } >"$monitoring_dir/$1"
}
log_condition() { # display-name metric outcome-filter threshold
  cat <<YAML
- displayName: '$1'
  conditionThreshold:
    filter: 'resource.type="cloud_run_revision" AND metric.type="logging.googleapis.com/user/$2"$3'
    comparison: COMPARISON_GT
    thresholdValue: $4
    duration: 0s
    aggregations:
    - alignmentPeriod: 300s
      perSeriesAligner: ALIGN_SUM
      crossSeriesReducer: REDUCE_SUM
YAML
}
write_policy policy-dead-letters.yaml "Gemini webhooks: dead letters waiting ($dead_letter_sub)" \
  "Events GeminiWorker failed $max_attempts times wait in $dead_letter_sub. Fix the cause, then replay them." "$(cat <<YAML
- displayName: 'Undelivered messages in $dead_letter_sub'
  conditionThreshold:
    filter: 'resource.type="pubsub_subscription" AND resource.labels.subscription_id="$dead_letter_sub" AND metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"'
    comparison: COMPARISON_GT
    thresholdValue: 0
    duration: 0s
    aggregations:
    - alignmentPeriod: 300s
      perSeriesAligner: ALIGN_MAX
YAML
)"
write_policy policy-bursts.yaml "Gemini webhooks: failed or rejected deliveries" \
  "Many failed deliveries: a store, queue or handler is failing (Gemini retries). Many rejected: a secret rotation gone wrong?" \
  "$(log_condition "More than $failed_burst failed in 5 min" "${metric_prefix}_deliveries" ' AND metric.labels.outcome="failed"' "$failed_burst")
$(log_condition "More than $rejected_burst rejected in 5 min" "${metric_prefix}_deliveries" ' AND metric.labels.outcome="rejected"' "$rejected_burst")"
write_policy policy-misconfigured.yaml "Gemini webhooks: function misconfigured" \
  "A function logged that it is misconfigured: every delivery is answered 500 until it is redeployed with a fixed configuration." \
  "$(log_condition "Misconfigured start-up line" "${metric_prefix}_misconfigured" '' 0)"

for p in dead-letters bursts misconfigured; do
  file="$monitoring_dir/policy-$p.yaml"
  display=$(sed -n "s/^displayName: '\(.*\)'$/\1/p" "$file")
  existing=$(probe gcloud alpha monitoring policies list "--project=$project" "--filter=displayName=\"$display\"" "--format=value(name)" || true)
  if [ -n "$existing" ]; then
    run gcloud alpha monitoring policies update "${existing%%$'\n'*}" "--policy-from-file=$file" "--project=$project"
  else
    run --note "if no policy has this displayName; later runs update it" \
      gcloud alpha monitoring policies create "--policy-from-file=$file" "--project=$project"
  fi
done

echo
echo "--source folder (left in place): $stage"
echo "metric and alert policy files: $monitoring_dir"
if $dry_run; then
  echo "Function URL (expected): $url"
else
  echo "Function URL: $url"
fi
cat <<EOF
Next: register the URL with Gemini (a webhook that already delivers there keeps its secret and gets these events):
  $(register "$url")
If that created a webhook, it stored the new signing secret as the latest version of
$secret_name: run this script again so that new instances read it. Then check a delivery:
  go tool gemini-webhooks ping --id ID   # and watch the function's log
EOF

# Landing needs both the Gemini API key (to confirm a batch and download its
# output) and a gs:// RESULTS_SINK; without either, jobs are only recorded.
if ! $worker_has_key || [ -z "$sink_bucket" ]; then
  echo
  echo "Note: as deployed, finished batches land nowhere (jobs are recorded in Firestore, nothing is downloaded):"
  $worker_has_key || echo "  - GeminiWorker has no GEMINI_API_KEY: it cannot confirm batches or download their output."
  $worker_has_key || echo "  - $reconcile_skipped."
  [ -n "$sink_bucket" ] || echo "  - RESULTS_SINK is unset: there is no bucket to land in."
  cat <<EOF
To land them, keep the key in Secret Manager and name both, then run this script again:
  printf %s "\$GEMINI_API_KEY" | gcloud secrets create gemini-api-key --data-file=- --project=$project
  export FUNCTION_SECRETS=GEMINI_API_KEY=gemini-api-key RESULTS_SINK=gs://YOUR_BUCKET/gemini
EOF
fi
