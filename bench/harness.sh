# The parts of a benchmark that bench/run.sh (the suite) and bench/profile.sh (where a
# scenario's CPU goes) share, sourced by both: messages, tool installs, the binary under
# test, a work directory that is cleaned up on exit, imagestore servers on the embedded
# default, and wrk runs through bench/wrk.lua. Functions only; the caller runs them.
#
# The caller sets BENCH_NAME (its name in error messages) and KEEP (1: keep the work
# directory); both scripts run from the repository's root.

log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
now_ns() { date +%s%N; }
# machine: what a recorded figure was measured on (cores, processor, memory, kernel).
machine() {
  echo "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB, Linux $(uname -r)"
}

# install_missing COMMAND:PACKAGE…: installs the Debian package of every command that is
# not on the PATH (the references and tools come from Debian, installed on first use).
install_missing() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# take_binary: sets BIN to the imagestore binary to measure: BIN= as given (an A/B trial of
# another build), or this tree's release build, built now.
take_binary() {
  if [ -n "${BIN:-}" ]; then
    [ -x "$BIN" ] || die "BIN=$BIN is not an executable"
    BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
  else
    log "building the release binary"
    nice -n 10 cargo build --release --locked --quiet
    BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/imagestore"
  fi
}

# make_work_dir: a fresh $WORK for servers and files; on exit, every server started
# with start_server and nginx (if bench/run.sh started one) are stopped and $WORK removed.
make_work_dir() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/imagestore-bench.XXXXXX")"
  declare -gA PID=() PORT=()
  trap cleanup EXIT
}
cleanup() {
  for name in "${!PID[@]}"; do kill "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null || true; done
  if [ -f "$WORK/nginx/nginx.pid" ]; then
    kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; return; fi
  # The upload scenarios leave hundreds of thousands of small files (nginx PUTs a new
  # one per request, as imagestore writes a new blob). Once written back, each unlink
  # waits on the disk (here a VM disk mounted with `discard`): a plain `rm -rf` took
  # 12 minutes, while unlinks issued in parallel overlap those waits (about 25× faster).
  log "removing the work directory"
  find "$WORK" -type f -print0 | xargs -0 -r -n 500 -P 16 rm -f
  rm -rf "$WORK"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- imagestore -----------------------------------------------------------------------
# start_server NAME: serves $WORK/NAME/data on a fresh port, on the embedded default with
# every other setting at its default (logging each response at INFO to a file, as a
# deployment would). The first start's credentials are kept in $WORK/NAME/first-start.json.
start_server() {
  local name="$1" dir="$WORK/$1"
  mkdir -p "$dir"
  PORT[$name]="$(free_port)"
  "$BIN" serve --data-dir "$dir/data" --listen "127.0.0.1:${PORT[$name]}" \
    >>"$dir/stdout.json" 2>>"$dir/server.log" &
  PID[$name]=$!
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:${PORT[$name]}/healthz" >/dev/null && break
    kill -0 "${PID[$name]}" 2>/dev/null || die "imagestore ($name) exited; see $dir/server.log"
    sleep 0.1
  done
  [ -s "$dir/first-start.json" ] || head -n1 "$dir/stdout.json" >"$dir/first-start.json"
}
stop_server() {
  kill "${PID[$1]}" && wait "${PID[$1]}" 2>/dev/null || true
  unset "PID[$1]"
}
base() { echo "http://127.0.0.1:${PORT[$1]}"; }
token() { jq -r .key.token "$WORK/$1/first-start.json"; }
env_id() { jq -r .environment.id "$WORK/$1/first-start.json"; }
# upload NAME FILE: the 201 JSON of a raw upload.
upload() {
  curl -fsS "$(base "$1")/v1/environments/$(env_id "$1")/images" \
    -H "Authorization: Bearer $(token "$1")" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$2"
}

# --- load -----------------------------------------------------------------------------
# wrk_run URL CONNECTIONS SECONDS [VAR=value…]: one wrk run, its RESULT line on stdout.
# Two client threads, as there are two cores: wrk shares the machine with the server,
# equally for both sides.
wrk_run() {
  local url="$1" conns="$2" secs="$3"; shift 3
  local out
  out="$(env WRK_RUN="$(now_ns)" "$@" wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s bench/wrk.lua "$url" | grep '^RESULT' || true)"
  [ -n "$out" ] || die "wrk gave no result for $url"
  echo "$out"
}
# field NAME RESULT_LINE: one value of wrk's RESULT line.
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
