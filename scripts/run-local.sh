#!/usr/bin/env bash
# Runs the DataProcessor locally against the machine's Postgres and shows data flowing:
# two HYDRAstor mails are delivered exactly as Postfix would hand them over, the workers
# process them, and the jobs and the rows they produced are printed. The server keeps
# running until Ctrl-C. Data lives under .local/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'dataprocessor'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE dataprocessor"

echo "== building"
cargo build --bins -q
bin=target/debug

export DATAPROCESSOR_CONFIG=$PWD/config.json
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/dataprocessor
export DP__PATHS__ROOT=$PWD/.local/mailbox
export DP__LOGGING__DIRECTORY=$PWD/.local/logs
export DP__API__LISTEN=127.0.0.1:25025
export DP__WORKERS__POLL_INTERVAL_SECONDS=1
key=local-dev-key-change-me-0123

$bin/dataprocessor migrate
$bin/dataprocessor serve 2>.local-serve.log &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null; echo "stopped"' EXIT
for _ in $(seq 1 60); do
  curl -fsS -H "X-Api-Key: $key" http://127.0.0.1:25025/api/1.0/health >/dev/null 2>&1 && break
  sleep 0.5
done
echo "== health"
curl -sS -H "X-Api-Key: $key" http://127.0.0.1:25025/api/1.0/health; echo

echo "== delivering two mails (as Postfix would)"
for mail in mailhandler/tests/fixtures/system_report.eml mailhandler/tests/fixtures/alert.eml; do
  $bin/dpctl mail inject "$mail" --sender hs-alerts@grid-a.bobsburgers.example \
    --recipient bobs_burgers@ingest.hview.example
done
sleep 2

echo "== jobs (dpctl jobs list)"
$bin/dpctl jobs list --limit 5
echo "== GET /api/1.0/jobs?limit=2"
curl -sS -H "X-Api-Key: $key" "http://127.0.0.1:25025/api/1.0/jobs?limit=2"; echo
echo "== files"
find .local/mailbox/inbox -newer .local-serve.log -type f | head -20
if psql -h 127.0.0.1 -U postgres -d dataprocessor -tAc "SELECT to_regclass('hydrastor_grids')" | grep -q hydrastor; then
  echo "== rows"
  psql -h 127.0.0.1 -U postgres -d dataprocessor -c "SELECT customer, grid_name, status, physical_used_bytes, dedup_ratio, last_report_at FROM hydrastor_grids" \
    -c "SELECT customer, grid_name, node_name, event_id, severity, occurred_at FROM hydrastor_alerts ORDER BY occurred_at DESC LIMIT 5"
fi
echo
echo "The DataProcessor is running on http://127.0.0.1:25025 (API key: $key); logs in .local/logs."
echo "Try: $bin/dpctl --config config.json jobs list    Ctrl-C stops it."
wait $serve
