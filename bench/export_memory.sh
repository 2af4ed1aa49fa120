#!/usr/bin/env bash
# Memory of a subject's export: a subject holding about 1 GB of originals is exported
# (GET …/subjects/{subject}/export, streamed as a ZIP) while the server's resident memory
# is sampled every 50 ms. The reference, in the same run on the same server: the same
# bytes fetched as the images' own hrefs, one after another.
#
#   BIN=target/release/imagestore bench/export_memory.sh [GIGABYTES]   (default 1)
#
# Prints the server's RSS before, the peak during each, and the growth of each.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=export_memory KEEP=${KEEP:-0}
source bench/harness.sh
install_missing curl:curl jq:jq
take_binary
make_work_dir

GIGABYTES="${1:-1}"
PHOTO=tests/corpus/photo-3840x2160.jpg
start_server s
ENV="$(env_id s)" TOKEN="$(token s)" BASE="$(base s)"
size=$(stat -c %s "$PHOTO")
count=$(( GIGABYTES * 1024 * 1024 * 1024 / size + 1 ))
log "uploading $count copies of $PHOTO ($size bytes) as user:1"
seq "$count" | xargs -P 2 -I{} curl -fsS -o /dev/null \
  "$BASE/v1/environments/$ENV/images?subject=user:1" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream' \
  --data-binary "@$PHOTO"
held=$(curl -fsS "$BASE/v1/environments/$ENV/subjects/user:1" -H "Authorization: Bearer $TOKEN")
log "the subject holds $(jq .images <<<"$held") images, $(jq .bytes <<<"$held") bytes"

rss() { awk '/VmRSS/ {print $2}' "/proc/${PID[s]}/status"; }
# peak_while PID_OF_CLIENT: the highest RSS (KiB) of the server while the client runs.
peak_while() {
  local peak=0 now
  while kill -0 "$1" 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.05
  done
  echo "$peak"
}

sleep 1
before=$(rss)
start=$(now_ns)
curl -fsS "$BASE/v1/environments/$ENV/subjects/user:1/export" \
  -H "Authorization: Bearer $TOKEN" -o "$WORK/export.zip" &
client=$!
export_peak=$(peak_while $client)
wait $client
export_secs=$(awk "BEGIN {printf \"%.1f\", ($(now_ns) - $start) / 1e9}")
zip_bytes=$(stat -c %s "$WORK/export.zip")
rm -f "$WORK/export.zip"

sleep 1
reference_before=$(rss)
curl -fsS "$BASE/v1/environments/$ENV/images?subject=user:1&limit=1000" -H "Authorization: Bearer $TOKEN" \
  | jq -r '._embedded.images[].targets.original.href' >"$WORK/hrefs"
start=$(now_ns)
(while read -r href; do curl -fsS -o /dev/null "$href"; done <"$WORK/hrefs") &
client=$!
reference_peak=$(peak_while $client)
wait $client
reference_secs=$(awk "BEGIN {printf \"%.1f\", ($(now_ns) - $start) / 1e9}")

mib() { awk "BEGIN {printf \"%.1f\", $1 / 1024}"; }
echo "export: $zip_bytes bytes in ${export_secs} s; server RSS $(mib "$before") MiB before, peak $(mib "$export_peak") MiB (+$(mib $((export_peak - before))) MiB)"
echo "reference (the same originals by href, one by one): ${reference_secs} s; RSS $(mib "$reference_before") MiB before, peak $(mib "$reference_peak") MiB (+$(mib $((reference_peak - reference_before))) MiB)"
