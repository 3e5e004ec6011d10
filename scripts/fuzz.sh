#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes with cargo-fuzz (libFuzzer + AddressSanitizer):
# scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]   (default 600 s, every target).
# Corpora are seeded from the project's fixtures and ../shared/samples/ (when present);
# crashes land in fuzz/artifacts/<target>/. Two targets run at a time (this machine has 2
# cores); a summary line per target (runs, coverage) goes to fuzz/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
all_targets=(mail_routing sniff netbackup_readers system_report alert html_to_text archive_extract api_requests s3_keys s3_requests api_front)
targets=("${@:-${all_targets[@]}}")
[ $# -gt 0 ] || targets=("${all_targets[@]}")

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# The toolchain is stable; the sanitizer flags cargo-fuzz passes need this.
export RUSTC_BOOTSTRAP=1

python3 scripts/fuzz_seeds.py fuzz/corpus

(cd fuzz && cargo fuzz build -O)

run() {
  local target="$1" log="fuzz/logs/$1.log"
  mkdir -p "fuzz/artifacts/$target"
  (cd fuzz && nice -n 10 cargo fuzz run -O "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 -timeout=20 \
      -print_final_stats=1 -artifact_prefix="artifacts/$target/") >"$log" 2>&1
  local status=$?
  local runs cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*' || echo "?")
  printf '%s\t%s s\t%s runs\tcov %s\texit %s\n' "$target" "$seconds" "$runs" "$cov" "$status" | tee -a fuzz/summary.txt
  return $status
}

mkdir -p fuzz/logs
: >fuzz/summary.txt
failed=0
set +e
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  first=$!
  if ((i + 1 < ${#targets[@]})); then
    run "${targets[i + 1]}" &
    second=$!
    wait "$second" || failed=1
  fi
  wait "$first" || failed=1
done
set -e
if [ "$failed" != 0 ]; then
  echo "a target found a crash: see fuzz/artifacts/ and fuzz/logs/" >&2
  exit 1
fi
echo "no crash; summary in fuzz/summary.txt"
