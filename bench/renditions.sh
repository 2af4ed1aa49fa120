#!/usr/bin/env bash
# Cold rendition latency and output size: imagestore against libvips on the same photo.
#
#   bench/renditions.sh [ROUNDS]        (default 15 rounds)
#
# Builds the release binary, starts imagestore on a temp data dir, uploads
# shared/corpus/photo-2560x1600.jpg, then alternates (A, B, A, B, …) so that machine noise
# hits both sides alike:
#   A  a cold rendition over HTTP (a fresh variant every round: the `bg` parameter, which
#      does not change a JPEG's pixels, makes each request miss the variant store, so each
#      one fetches the original, decodes, resizes, encodes, stores and serves)
#   B  the same rendition by libvips' command line (process start included)
# and prints medians, the ratio A/B and the output sizes at the same quality setting.
# Results are appended to bench/RESULTS.md with the date, machine and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-15}"
PHOTO="$(cd ../shared/corpus && pwd)/photo-2560x1600.jpg"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need vipsthumbnail || ! need curl || ! need jq; then
  apt-get update -qq && apt-get install -y -qq libvips-tools curl jq >/dev/null
fi

cargo build --release --quiet
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
./target/release/imagestore serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/first-start.json" 2>"$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN="$(jq -r .key.token "$WORK/first-start.json")"
ENV="$(jq -r .environment.id "$WORK/first-start.json")"
HREF="$(curl -fs "http://127.0.0.1:$PORT/v1/environments/$ENV/images" -H "Authorization: Bearer $TOKEN" \
  --data-binary "@$PHOTO" | jq -r .targets.original.href)"

# Nanosecond clock from date(1): a process start of about a millisecond, unlike an interpreter.
now_ms() { echo "scale=3; $(date +%s%N) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run_pair NAME QUERY VIPS_OUTPUT VIPS_COMMAND...: alternates A and B ROUNDS times; the
# libvips command writes VIPS_OUTPUT (vips picks the format from its extension).
run_pair() {
  local name="$1" query="$2" vips_out="$3"; shift 3
  : >"$WORK/a" ; : >"$WORK/b"
  for i in $(seq "$ROUNDS"); do
    bg=$(printf '%06x' "$(( (RANDOM * 32768 + RANDOM + i) & 0xffffff ))")
    curl -fsS -o "$WORK/a.out" -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" \
      "$HREF?$query&bg=$bg" | awk '{printf "%.3f\n", $1*1000}' >>"$WORK/a"
    start=$(now_ms); "$@" >/dev/null; end=$(now_ms)
    echo "$end - $start" | bc >>"$WORK/b"
  done
  local a b
  a=$(median <"$WORK/a"); b=$(median <"$WORK/b")
  printf '| %s | %.1f ms | %.1f ms | %.2f× | %s B | %s B |\n' "$name" "$a" "$b" "$(echo "$a / $b" | bc -l)" \
    "$(stat -c %s "$WORK/a.out")" "$(stat -c %s "$vips_out")"
}
need bc || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }

TABLE="$WORK/table"
{
  echo "| scenario | imagestore (A) median | libvips (B) median | A/B | A bytes | B bytes |"
  echo "|---|---|---|---|---|---|"
  run_pair "cold 256 px JPEG, q80" "w=256&q=80" "$WORK/b.jpg" \
    vipsthumbnail "$PHOTO" -s 256 -o "$WORK/b.jpg[Q=80]"
  run_pair "cold 512 px WebP, q80" "w=512&format=webp&q=80" "$WORK/b.webp" \
    vips thumbnail "$PHOTO" "$WORK/b.webp[Q=80]" 512
} >"$TABLE"
cat "$TABLE"

{
  echo
  echo "## Renditions — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB. Rounds: $ROUNDS, alternating. Command: \`bench/renditions.sh $ROUNDS\`."
  echo "A is an HTTP round trip to a cold variant (fetch original, decode, resize, encode, store, serve);"
  echo "B is libvips' CLI on the same file (process start included). Same quality setting on both sides."
  echo
  cat "$TABLE"
} >>bench/RESULTS.md
