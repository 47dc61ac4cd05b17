#!/usr/bin/env bash
# The shell yardstick: GNU parallel + curl + jq doing what plain_client.py does.
#   benchmarks/plain_curl.sh BASE_URL KEY JOBS CONCURRENCY OUT_DIR
# Prints one JSON line: {"jobs": ..., "seconds": ..., "jobs_per_second": ...}.
set -euo pipefail
export BASE="$1" KEY="$2" OUT="$5"
jobs="$3" width="$4"
mkdir -p "$OUT"

one() {
  local n="$1" task body status
  task=$(curl -sf -X POST "$BASE/v1/videos/generations" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d "{\"model\":\"grok-imagine-text-to-video\",\"input\":{\"prompt\":\"Lamp $n\",\"duration\":6}}" \
    | jq -r .data.taskId)
  while :; do
    body=$(curl -sf "$BASE/v1/tasks/$task" -H "Authorization: Bearer $KEY")
    status=$(jq -r .status <<<"$body")
    [ "$status" = completed ] && break
    [ "$status" = failed ] && return 1
    sleep 0.05
  done
  curl -sf -o "$OUT/$n.mp4" "$(jq -r '.output.urls[0]' <<<"$body")"
}
export -f one

start=$(date +%s.%N)
seq 0 $((jobs - 1)) | parallel --halt now,fail=1 -j "$width" one
end=$(date +%s.%N)
jq -cn --argjson jobs "$jobs" --argjson s "$(echo "$end - $start" | bc -l)" \
  '{jobs: $jobs, seconds: $s, jobs_per_second: ($jobs / $s)}'
