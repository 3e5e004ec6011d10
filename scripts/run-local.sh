#!/usr/bin/env bash
# Runs the DataProcessor locally against the machine's Postgres and shows data flowing:
# a HYDRAstor system report and an alert mail are delivered exactly as Postfix would hand them over, the workers
# process them, and the jobs and the rows they produced are printed. The server keeps
# running until Ctrl-C. Data lives under .local/ and in this checkout's own database (named
# in .local/database); delete .local to start over: the next run empties that database too.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage says how long the run has taken so far: the first build takes minutes.
stage() { echo "== $* [$(date -u +%H:%M:%S), ${SECONDS}s]"; }

# A fresh start (no .local/database: a new checkout, or .local deleted to start over) also
# starts this checkout's database afresh.
fresh=false
[ -s .local/database ] || fresh=true

# One instance at a time: a second run must not start a server that cannot bind, nor touch
# the running one's files. The lock is held until this script ends.
mkdir -p .local
exec 9>.local/run-local.lock
if ! flock -n 9; then
  echo "run-local: already running ($(cat .local/run-local.pid 2>/dev/null || echo '?')); stop it with Ctrl-C first" >&2
  exit 1
fi
for port in 25025; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "run-local: port $port is taken by another program; stop it first" >&2
    exit 1
  fi
done
echo $$ > .local/run-local.pid

stage "services (Postgres, the aws CLI for the README's upload recipe)"
scripts/services.sh s3

# This checkout's own database: two checkouts on one machine never see each other's jobs.
# Its name comes from the checkout's folder and path, and is kept in .local/database.
if [ ! -s .local/database ]; then
  name=$(basename "$PWD" | tr -c 'a-zA-Z0-9\n' '_' | tr 'A-Z' 'a-z' | cut -c1-30)
  echo "dataprocessor_local_${name}_$(pwd -P | sha256sum | cut -c1-8)" > .local/database
fi
db=$(cat .local/database)
if $fresh; then
  PGOPTIONS='-c client_min_messages=warning' \
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db\""
echo "database: $db (this checkout's; deleting .local starts it afresh)"

stage "building (cargo build --bins: the first build takes some minutes; cargo shows its progress)"
cargo build --bins
stage "built"
# Absolute, so the env file works from anywhere; under CARGO_TARGET_DIR when it is set.
bin=$(realpath "${CARGO_TARGET_DIR:-target}/debug")

export DATAPROCESSOR_CONFIG=$PWD/config.json
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export DP__PATHS__ROOT=$PWD/.local/mailbox
export DP__LOGGING__DIRECTORY=$PWD/.local/logs
export DP__API__LISTEN=127.0.0.1:25025
export DP__WORKERS__POLL_INTERVAL_SECONDS=1
key=local-dev-key-change-me-0123

# The same settings for dpctl in another shell: `source .local/env`.
cat > .local/env <<ENV
export DATAPROCESSOR_CONFIG=$DATAPROCESSOR_CONFIG DATABASE_URL=$DATABASE_URL
export DP__PATHS__ROOT=$DP__PATHS__ROOT DP__LOGGING__DIRECTORY=$DP__LOGGING__DIRECTORY
export PATH=$bin:\$PATH
ENV

# Uploads go to serve itself: the embedded S3 endpoint on 25025 (config.json's s3.mode),
# with TLS beside plain HTTP on that port as in the seed (https for aws, http for curl).
# A self-signed certificate for 127.0.0.1 and localhost is made once; aws trusts it
# through AWS_CA_BUNDLE in .local/env. Uploads: see "Uploads in" in the README.
if [ ! -s .local/tls/cert.pem ]; then
  command -v openssl >/dev/null || apt-get install -y -q openssl >/dev/null
  mkdir -p .local/tls
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout .local/tls/key.pem -out .local/tls/cert.pem 2>/dev/null
fi
export DP__API__TLS_CERTIFICATE=$PWD/.local/tls/cert.pem DP__API__TLS_PRIVATE_KEY=$PWD/.local/tls/key.pem
cat >> .local/env <<ENV
export AWS_ACCESS_KEY_ID=accessKey1 AWS_SECRET_ACCESS_KEY=verySecretKey1 AWS_DEFAULT_REGION=us-east-1
export AWS_CA_BUNDLE=$PWD/.local/tls/cert.pem
ENV

stage "migrating and starting serve"
$bin/dataprocessor migrate
$bin/dataprocessor serve 2>.local/serve.log &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null; rm -f .local/run-local.pid; echo "stopped"' EXIT
for _ in $(seq 1 60); do
  curl -fsS -H "X-Api-Key: $key" http://127.0.0.1:25025/api/1.0/health >/dev/null 2>&1 && break
  if ! kill -0 "$serve" 2>/dev/null; then
    echo "run-local: dataprocessor serve failed to start; its last lines (.local/serve.log):" >&2
    tail -n 5 .local/serve.log >&2
    exit 1
  fi
  sleep 0.5
done
stage "health"
curl -sS -H "X-Api-Key: $key" http://127.0.0.1:25025/api/1.0/health; echo

stage "delivering a system report and an alert mail (as Postfix would)"
# Stamped with the time of the first run and kept in .local/demo: a later start delivers
# the same bytes again, which find their jobs ("already stored"), never two more.
mkdir -p .local/demo
now=$(date -u '+%Y/%m/%d %H:%M:%S')
[ -s .local/demo/report.eml ] \
  || sed -e "s|^Generated: .*|Generated: $now +0000|" modules/hydrastor/system_report/fixtures/plain_body.eml > .local/demo/report.eml
[ -s .local/demo/alert.eml ] \
  || sed -e "s|^Occurred     : .*|Occurred     : $now +0000|" modules/hydrastor/alert/fixtures/five_severities.eml > .local/demo/alert.eml
ids=()
for mail in .local/demo/report.eml .local/demo/alert.eml; do
  line=$($bin/dpctl mail inject "$mail" --sender hs-reports@grid-a.bobsburgers.example \
    --recipient bobs_burgers@ingest.hview.example)
  echo "$line"
  ids+=("$(echo "$line" | sed -n -E 's/^(queued|already stored) as job ([0-9]+).*/\2/p')")
done
for id in "${ids[@]}"; do
  for _ in $(seq 1 50); do
    state=$($bin/dpctl jobs show "$id" --json | sed -n -E 's/^  "state": "([a-z]+)".*/\1/p')
    case "$state" in done|error) break ;; esac
    sleep 0.1
  done
  stage "job $id"
  $bin/dpctl jobs show "$id"
done

stage "jobs (dpctl jobs list)"
$bin/dpctl jobs list --limit 5
stage "GET /api/1.0/jobs?limit=2"
curl -sS -H "X-Api-Key: $key" "http://127.0.0.1:25025/api/1.0/jobs?limit=2"; echo
stage "files of job ${ids[1]} (moved from inbox/ to archive/ when it was done)"
archive=$($bin/dpctl jobs show "${ids[1]}" | sed -n 's/^archive //p')
find "$archive" -type f
stage "rows"
psql -h 127.0.0.1 -U postgres -d "$db" -c "SELECT customer, grid_name, status, physical_used_bytes, dedup_ratio, last_report_at FROM hydrastor_grids" \
    -c "SELECT customer, grid_name, node_name, event_id, severity, occurred_at FROM hydrastor_alerts ORDER BY occurred_at DESC, event_id LIMIT 5"
echo
echo "The DataProcessor is running on http://127.0.0.1:25025 (API key: $key); logs in .local/logs."
echo "Its console: open http://127.0.0.1:25025/ in a browser and sign in with that key."
echo "Uploads: S3 on the same port (https://127.0.0.1:25025, self-signed: AWS_CA_BUNDLE in .local/env), bucket veritas2hview, access key accessKey1, secret verySecretKey1."
echo "In another shell: source .local/env && dpctl jobs list    (uploads: the README's Uploads in)    Ctrl-C stops it."
wait $serve
