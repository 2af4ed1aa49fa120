#!/usr/bin/env bash
# Where one benchmark scenario's server CPU goes: starts imagestore on its embedded default
# as bench/run.sh does, loads it with the same wrk script, and prints
#   - throughput and server CPU per request, measured without the profiler (utime + stime
#     of the process from /proc over one run, divided by the requests wrk counted), and
#   - a table of the components that CPU is spent in (bench/attribute.py), from a second
#     run under `perf record` with DWARF call stacks.
# A goal that bench/run.sh reports missed is explained with this table, not guessed at.
#
#   bench/profile.sh                upload (the default scenario)
#   bench/profile.sh meta           one of: upload avatar variant meta
#   DURATION=8 KEEP=1 BIN=PATH bench/profile.sh upload
#
# Knobs: DURATION seconds of each of the two runs (default 8); FREQ perf's sampling rate
# (default 999 Hz); BIN and KEEP as in bench/run.sh. perf comes from Debian's linux-perf,
# installed when missing; on a VM without hardware counters it samples on the CPU clock,
# which is what is wanted here.
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIO="${1:-upload}"
DURATION="${DURATION:-8}"
FREQ="${FREQ:-999}"
KEEP="${KEEP:-0}"
CORPUS="$(cd tests/corpus && pwd)"
BENCH_NAME=bench/profile.sh
# shellcheck source=bench/harness.sh
. bench/harness.sh

case "$SCENARIO" in
  upload | avatar | variant | meta) ;;
  *) die "unknown scenario '$SCENARIO' (upload, avatar, variant or meta)" ;;
esac
install_missing curl:curl jq:jq wrk:wrk perf:linux-perf python3:python3
take_binary
make_work_dir
# perf's data file goes to memory, not beside the blob store: the store's syncfs would
# write it back with every group, and its writes would queue behind the blob writes in
# the file system's journal, inflating exactly the costs being measured.
PERF_DATA="$(mktemp /dev/shm/imagestore-perf.XXXXXX)"
trap 'rm -f "$PERF_DATA"; cleanup' EXIT

start_server main
AUTH="Authorization: Bearer $(token main)"
IMAGES="$(base main)/v1/environments/$(env_id main)/images"
AVATAR_JSON="$(upload main "$CORPUS/avatar-400.jpg")"
PHOTO_HREF="$(jq -r .targets.original.href <<<"$(upload main "$CORPUS/photo-1920x1280.jpg")")"
# The same loads as bench/run.sh's scenarios of those names.
case "$SCENARIO" in
  upload)
    URL="$IMAGES"; CONNS=16
    LOAD=(WRK_METHOD=POST WRK_BODY="$CORPUS/avatar-400.jpg" WRK_HEADERS="$AUTH|Content-Type: image/jpeg") ;;
  avatar)
    URL="$(jq -r .targets.original.href <<<"$AVATAR_JSON")"; CONNS=32; LOAD=() ;;
  variant)
    URL="$PHOTO_HREF?w=256"; CONNS=32; LOAD=(WRK_HEADERS="$AUTH")
    curl -fsS -o /dev/null -H "$AUTH" "$URL" ;;
  meta)
    URL="$IMAGES/$(jq -r .id <<<"$AVATAR_JSON")"; CONNS=32; LOAD=(WRK_HEADERS="$AUTH") ;;
esac

SERVER="${PID[main]}"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
# The upload runs write tens of thousands of files; start each with nothing dirty, as
# bench/run.sh does, so that a run does not pay for the previous one's write-back.
sync
wrk_run "$URL" "$CONNS" 2 "${LOAD[@]}" >/dev/null

log "unprofiled run, $DURATION s"
sync
before=$(cpu_ticks)
out="$(wrk_run "$URL" "$CONNS" "$DURATION" "${LOAD[@]}")"
after=$(cpu_ticks)
requests=$(field requests "$out")
[ "$requests" -gt 0 ] || die "wrk counted no requests: $out"
[ "$(field err_status "$out")" = 0 ] || log "warning: wrk saw error statuses: ${out#RESULT }"
cpu_us=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
  'BEGIN {printf "%.0f", t / hz * 1e6 / n}')

log "profiled run, $DURATION s at $FREQ Hz"
sync
wrk_run "$URL" "$CONNS" $((DURATION + 2)) "${LOAD[@]}" >"$WORK/profiled.result" &
load=$!
sleep 1
perf record -q -F "$FREQ" -g --call-graph dwarf,16384 -p "$SERVER" -o "$PERF_DATA" \
  -- sleep "$DURATION" 2>"$WORK/perf.log" || die "perf record failed; see $WORK/perf.log"
wait "$load"
log "unwinding the stacks"
perf script -i "$PERF_DATA" -F comm,tid,period,ip,sym,dso 2>/dev/null >"$WORK/stacks.txt"
rm -f "$PERF_DATA"

echo
echo "## Profile of '$SCENARIO' — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo
echo "Machine: $(machine). Command: \`DURATION=$DURATION bench/profile.sh $SCENARIO\` ($CONNS connections)."
echo "Without the profiler: $(field rps "$out") req/s, p99 $(field p99_us "$out") µs, server CPU $cpu_us µs per request."
echo "Under the profiler: $(field rps "$(cat "$WORK/profiled.result")") req/s (DWARF unwinding slows the server; shares, not speeds, are read from it)."
echo
python3 bench/attribute.py "$cpu_us" <"$WORK/stacks.txt"
