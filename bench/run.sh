#!/usr/bin/env bash
# imagestore's performance benchmark suite: one command that builds the release binary,
# starts imagestore on its embedded default (SQLite catalog + local blob directory) and the
# reference programs (nginx for static serving and WebDAV PUT, libvips' CLI for renditions),
# runs every scenario in alternation with its reference (A, B, A, B…, so that a noisy
# stretch of a shared machine lands on both sides and cancels in the ratio), prints a table
# of absolute figures and ratios against the goals, appends it to bench/RESULTS.md (date,
# machine, commit) and redraws bench/results.svg, the chart that shows a regression at a
# glance. What it shares with bench/profile.sh (tools, servers, wrk runs) is in
# bench/harness.sh.
#
#   bench/run.sh                         all scenarios, about 7 minutes on 2 cores
#   ROUNDS=5 DURATION=10 bench/run.sh    steadier figures, longer run
#   ONLY="get meta" bench/run.sh         some groups: get meta upload rss cold catalog
#
# Knobs (environment variables):
#   ROUNDS       A/B pairs per load scenario (default 4)
#   DURATION     seconds of each wrk run (default 5); each side also gets a 1 s warm-up
#   COLD_ROUNDS  pairs of cold renditions (default 15, as bench/renditions.sh had)
#   META_PAUSE_MS  pause of each connection between requests in the paced metadata run
#                (default 3: about 10k req/s offered by 32 connections)
#   CATALOG_ROWS large catalog size (default 1000000); CATALOG_BASE its reference (10000)
#   ONLY         groups to run (default: all)
#   RECORD=0     print the table only: no RESULTS.md section, no chart
#   KEEP=1       keep the work directory (server logs, data, nginx logs) for inspection
#   BIN=PATH     measure this imagestore binary instead of building one (for A/B trials of
#                two builds; a recorded run should build from the commit it names)
#
# Scenarios and goals (the issue's table; A is imagestore, B the reference):
#   get      GET the original of an 11 KB avatar and of a 695 KB photo, and a warm 256 px
#            variant, 32 connections: req/s vs nginx serving the same bytes, ≥ 0.8×
#   meta     GET an image's metadata JSON, 32 connections: p99 ≤ 2 ms; also p99 and req/s of
#            nginx serving the same JSON as a file, for what this machine allows, at
#            saturation and paced (each connection pausing META_PAUSE_MS ms between requests)
#   upload   raw upload of the 11 KB avatar, 16 connections: uploads/s vs nginx WebDAV PUT
#            of the same bytes to a new file each time, ≥ 0.5×
#   rss      16 simultaneous uploads of an 8 MB, 33 MP JPEG: the server's peak RSS
#            (VmHWM), ≤ 150 MB
#   cold     cold 256 px JPEG and 512 px WebP renditions of photo-2560x1600.jpg: latency
#            (and WebP bytes) vs `vipsthumbnail` / `vips thumbnail`, ≤ 1.0×
#   catalog  list page and GET by id p99 with CATALOG_ROWS images in one environment vs
#            CATALOG_BASE, ≤ 1.5×
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-5}"
COLD_ROUNDS="${COLD_ROUNDS:-15}"
META_PAUSE_MS="${META_PAUSE_MS:-3}"
CATALOG_ROWS="${CATALOG_ROWS:-1000000}"
CATALOG_BASE="${CATALOG_BASE:-10000}"
ONLY="${ONLY:-get meta upload rss cold catalog}"
RECORD="${RECORD:-1}"
KEEP="${KEEP:-0}"
CORPUS="$(cd tests/corpus && pwd)"
COMMAND="ROUNDS=$ROUNDS DURATION=$DURATION COLD_ROUNDS=$COLD_ROUNDS bench/run.sh"
[ "$ONLY" = "get meta upload rss cold catalog" ] || COMMAND="ONLY=\"$ONLY\" $COMMAND"

wants() { [[ " $ONLY " == *" $1 "* ]]; }
BENCH_NAME=bench/run.sh
# shellcheck source=bench/harness.sh
. bench/harness.sh

# --- tools ----------------------------------------------------------------------------
install_missing curl:curl jq:jq wrk:wrk nginx:nginx vipsthumbnail:libvips-tools python3:python3
nginx -V 2>&1 | grep -q http_dav_module || die "this nginx has no WebDAV module (needed for the PUT reference)"
[ -z "${BIN:-}" ] || [ "$RECORD" = 0 ] ||
  die "BIN= measures a build that may not be this commit's: use it with RECORD=0"
take_binary
make_work_dir

kb() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f KB", b / 1000}'; }
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # kB

# --- nginx, the static and WebDAV reference -------------------------------------------
start_nginx() {
  local d="$WORK/nginx"
  mkdir -p "$d/www/dav" "$d/body"
  NGINX_PORT="$(free_port)"
  # Workers as many as cores (as tokio's runtime), an access log line per request (as
  # imagestore logs each response), sendfile, and keep-alive without a request cap
  # (nginx closes a connection after 1000 requests by default; hyper never does, and a
  # reconnect every 1000 requests would handicap the reference).
  cat >"$d/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
  access_log $d/access.log;
  client_body_temp_path $d/body;
  proxy_temp_path $d/body;
  fastcgi_temp_path $d/body;
  uwsgi_temp_path $d/body;
  scgi_temp_path $d/body;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 100000000;
  types { image/jpeg jpg; image/png png; image/webp webp; application/json json; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $d/www;
    location /dav/ {
      # The floor for receiving bytes and writing them to a file: nginx spools the body
      # to a temp file and renames it into place (no decode, no fsync, no catalog).
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 20m;
    }
  }
}
EOF
  nginx -c "$d/nginx.conf" -e "$d/error.log"
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
}

# --- measurement ----------------------------------------------------------------------
RAW="$WORK/raw.tsv"
SCENARIOS="$WORK/scenarios.tsv"
NOTES="$WORK/notes"
: >"$RAW"; : >"$SCENARIOS"; : >"$NOTES"
# scenario KEY TITLE MEASURE UNIT GOAL_KIND GOAL AGGREGATE: a row of the table (see
# bench/report.py for the kinds).
scenario() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SCENARIOS"; }
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }
note() { echo "- $*" >>"$NOTES"; log "note: $*"; }

errors() {
  local e=0 k
  for k in err_status err_connect err_read err_write err_timeout; do e=$((e + $(field "$k" "$1"))); done
  echo "$e"
}
# metric rps|p99 RESULT_LINE: the figure a scenario records (p99 in ms).
metric() {
  case "$1" in
    rps) field rps "$2" ;;
    p99) awk -v us="$(field p99_us "$2")" 'BEGIN {printf "%.3f", us / 1000}' ;;
  esac
}
# measure KEY SIDE ROUND METRIC URL CONNS [VAR=value…]: one recorded run; errors (non-2xx
# answers, broken connections) are noted, since figures made of errors mean nothing.
measure() {
  local key="$1" side="$2" round="$3" what="$4" url="$5" conns="$6"; shift 6
  local out
  # Each run starts with nothing dirty left by the other side: imagestore's blob syncs
  # (syncfs) write back everything dirty on the file system, and a WebDAV round leaves
  # about 50,000 unsynced files there, which the next upload round would otherwise pay
  # for (p90 went from 28 ms to 1.4 s). nginx never syncs, so this costs it nothing.
  sync
  out="$(wrk_run "$url" "$conns" "$DURATION" "$@")"
  record "$key" "$side" "$round" "$(metric "$what" "$out")"
  [ "$(errors "$out")" = 0 ] || note "$key side $side round $round: wrk saw errors: ${out#RESULT }"
  log "$key $side #$round: ${out#RESULT }"
}
# pair KEY METRIC CONNS: alternates A (A_URL with A_ENV) and B (B_URL with B_ENV) for
# ROUNDS rounds, after a 1 s unrecorded warm-up of each (page cache, lazy init, sockets).
pair() {
  local key="$1" what="$2" conns="$3"
  wrk_run "$A_URL" "$conns" 1 "${A_ENV[@]}" >/dev/null
  wrk_run "$B_URL" "$conns" 1 "${B_ENV[@]}" >/dev/null
  for r in $(seq "$ROUNDS"); do
    measure "$key" A "$r" "$what" "$A_URL" "$conns" "${A_ENV[@]}"
    measure "$key" B "$r" "$what" "$B_URL" "$conns" "${B_ENV[@]}"
  done
}
ms_since() { echo $(( ($(now_ns) - $1) / 1000 )) | awk '{printf "%.3f", $1 / 1000}'; }

# --- the main server and its images ---------------------------------------------------
if wants get || wants meta || wants upload || wants rss || wants cold; then
  log "starting imagestore and nginx"
  start_server main
  mkdir -p "$WORK/nginx/www"
  if wants get || wants upload || wants meta; then start_nginx; fi
  TOKEN="$(token main)"; ENV_ID="$(env_id main)"; AUTH="Authorization: Bearer $TOKEN"
  AVATAR_JSON="$(upload main "$CORPUS/avatar-400.jpg")"
  PHOTO_JSON="$(upload main "$CORPUS/photo-1920x1280.jpg")"
  AVATAR_HREF="$(jq -r .targets.original.href <<<"$AVATAR_JSON")"
  PHOTO_HREF="$(jq -r .targets.original.href <<<"$PHOTO_JSON")"
  AVATAR_ID="$(jq -r .id <<<"$AVATAR_JSON")"
  # nginx serves exactly the bytes imagestore serves (the stored originals are
  # metadata-stripped, so they can differ from the corpus files).
  curl -fsS -o "$WORK/nginx/www/avatar.jpg" "$AVATAR_HREF"
  curl -fsS -o "$WORK/nginx/www/photo.jpg" "$PHOTO_HREF"
  curl -fsS -o "$WORK/nginx/www/variant.jpg" -H "$AUTH" "$PHOTO_HREF?w=256"
fi

if wants get; then
  scenario get_avatar "GET original, $(kb "$WORK/nginx/www/avatar.jpg") avatar, 32 conn" "req/s vs nginx" "req/s" ratio_ge 0.8 median
  A_URL="$AVATAR_HREF"; A_ENV=()
  B_URL="http://127.0.0.1:$NGINX_PORT/avatar.jpg"; B_ENV=()
  pair get_avatar rps 32

  scenario get_photo "GET original, $(kb "$WORK/nginx/www/photo.jpg") photo, 32 conn" "req/s vs nginx" "req/s" ratio_ge 0.8 median
  A_URL="$PHOTO_HREF"; B_URL="http://127.0.0.1:$NGINX_PORT/photo.jpg"
  pair get_photo rps 32

  # Warm: the variant was rendered by the download above; each request still authenticates
  # the key (transform parameters need one) and checks the variant store.
  scenario get_variant "GET warm 256 px variant ($(kb "$WORK/nginx/www/variant.jpg")), 32 conn" "req/s vs nginx" "req/s" ratio_ge 0.8 median
  A_URL="$PHOTO_HREF?w=256"; A_ENV=(WRK_HEADERS="$AUTH")
  B_URL="http://127.0.0.1:$NGINX_PORT/variant.jpg"; B_ENV=()
  pair get_variant rps 32
fi

if wants meta; then
  # B: nginx serving the same JSON document as a file, for the latency this machine and
  # load generator allow at all (wrk shares the two cores with the server).
  scenario meta_p99 "GET metadata JSON, 32 conn" "p99 latency" ms abs_le 2 median
  scenario meta_p99_ref "GET metadata JSON, 32 conn" "p99 vs nginx serving the same JSON" ms none "" median
  scenario meta_rps "GET metadata JSON, 32 conn" "throughput vs nginx serving the same JSON" "req/s" none "" median
  # Paced: the same 32 connections, each pausing $META_PAUSE_MS ms after every answer,
  # so that both sides get the same load well below saturation. At saturation a closed
  # loop's latency is its connections over its throughput (Little's law), so the p99
  # above mostly measures how the two cores are shared with wrk; this is the latency a
  # request sees when the server has headroom.
  scenario meta_paced_p99 "GET metadata JSON, 32 conn pausing ${META_PAUSE_MS} ms" "p99 vs nginx serving the same JSON" ms none "" median
  scenario meta_paced_rps "GET metadata JSON, 32 conn pausing ${META_PAUSE_MS} ms" "throughput vs nginx (the offered load)" "req/s" none "" median
  url="$(base main)/v1/environments/$ENV_ID/images/$AVATAR_ID"
  curl -fsS -o "$WORK/nginx/www/meta.json" -H "$AUTH" "$url"
  ref="http://127.0.0.1:$NGINX_PORT/meta.json"
  wrk_run "$url" 32 1 WRK_HEADERS="$AUTH" >/dev/null
  wrk_run "$ref" 32 1 >/dev/null
  for r in $(seq "$ROUNDS"); do
    out="$(wrk_run "$url" 32 "$DURATION" WRK_HEADERS="$AUTH")"
    log "meta A #$r: ${out#RESULT }"
    [ "$(errors "$out")" = 0 ] || note "meta round $r: wrk saw errors: ${out#RESULT }"
    record meta_p99 A "$r" "$(metric p99 "$out")"
    record meta_p99_ref A "$r" "$(metric p99 "$out")"
    record meta_rps A "$r" "$(metric rps "$out")"
    out="$(wrk_run "$ref" 32 "$DURATION")"
    log "meta B #$r: ${out#RESULT }"
    record meta_p99_ref B "$r" "$(metric p99 "$out")"
    record meta_rps B "$r" "$(metric rps "$out")"
    for side in A B; do
      if [ "$side" = A ]; then
        out="$(wrk_run "$url" 32 "$DURATION" WRK_HEADERS="$AUTH" WRK_PAUSE_MS="$META_PAUSE_MS")"
      else
        out="$(wrk_run "$ref" 32 "$DURATION" WRK_PAUSE_MS="$META_PAUSE_MS")"
      fi
      log "meta paced $side #$r: ${out#RESULT }"
      [ "$(errors "$out")" = 0 ] || note "meta paced $side round $r: wrk saw errors: ${out#RESULT }"
      record meta_paced_p99 "$side" "$r" "$(metric p99 "$out")"
      record meta_paced_rps "$side" "$r" "$(metric rps "$out")"
    done
  done
fi

if wants cold; then
  # Cold renditions (formerly bench/renditions.sh). A: an HTTP round trip to a variant
  # nobody asked for before: a fresh `bg` every round (it changes no pixel of an opaque
  # JPEG but is part of the variant's key), so each request fetches the original,
  # decodes, resizes, encodes, stores and serves. B: libvips' CLI on the same file at the
  # same quality, process start included, as the issue asks. F: the CLI on an 8×8 image,
  # its start-up floor, so that B − F (libvips' own work) can be shown beside it.
  BIG="$CORPUS/photo-2560x1600.jpg"
  COLD_HREF="$(jq -r .targets.original.href <<<"$(upload main "$BIG")")"
  vips black "$WORK/tiny.v" 8 8 && vips copy "$WORK/tiny.v" "$WORK/tiny.jpg"
  scenario cold_jpeg "cold 256 px JPEG q80 of 2560×1600" "latency vs vipsthumbnail" ms ratio_le 1.0 median
  scenario cold_jpeg_work "cold 256 px JPEG q80 of 2560×1600" "latency vs libvips work (CLI − start-up)" ms none "" median
  scenario cold_jpeg_bytes "cold 256 px JPEG q80 of 2560×1600" "output bytes" B none "" median
  scenario cold_webp "cold 512 px WebP q80 of 2560×1600" "latency vs vips thumbnail" ms ratio_le 1.0 median
  scenario cold_webp_work "cold 512 px WebP q80 of 2560×1600" "latency vs libvips work (CLI − start-up)" ms none "" median
  scenario cold_webp_bytes "cold 512 px WebP q80 of 2560×1600" "output bytes" B ratio_le 1.0 median
  cold_pair() { # KEY QUERY VIPS_OUT VIPS_COMMAND…
    local key="$1" query="$2" vips_out="$3"; shift 3
    local r bg a start b f
    for r in $(seq "$COLD_ROUNDS"); do
      bg=$(printf '%06x' "$(( (RANDOM * 32768 + RANDOM + r) & 0xffffff ))")
      a="$(curl -fsS -o "$WORK/cold.out" -w '%{time_total}' -H "$AUTH" "$COLD_HREF?$query&bg=$bg" |
        awk '{printf "%.3f", $1 * 1000}')"
      start=$(now_ns); "$@" >/dev/null; b=$(ms_since "$start")
      start=$(now_ns); vipsthumbnail "$WORK/tiny.jpg" -s 4 -o "$WORK/tiny-out.jpg" >/dev/null; f=$(ms_since "$start")
      record "$key" A "$r" "$a"; record "$key" B "$r" "$b"
      record "${key}_work" A "$r" "$a"; record "${key}_work" B "$r" "$(awk -v b="$b" -v f="$f" 'BEGIN {printf "%.3f", b - f}')"
      record "${key}_bytes" A "$r" "$(stat -c %s "$WORK/cold.out")"; record "${key}_bytes" B "$r" "$(stat -c %s "$vips_out")"
      record cold_floor B "$r" "$f"
    done
    log "$key: done $COLD_ROUNDS rounds"
  }
  scenario cold_floor "libvips CLI start-up" "vipsthumbnail on an 8×8 JPEG" ms none "" median
  cold_pair cold_jpeg "w=256&q=80" "$WORK/vips.jpg" vipsthumbnail "$BIG" -s 256 -o "$WORK/vips.jpg[Q=80]"
  cold_pair cold_webp "w=512&format=webp&q=80" "$WORK/vips.webp" vips thumbnail "$BIG" "$WORK/vips.webp[Q=80]" 512
fi

if wants upload; then
  scenario upload_avatar "upload 11 KB avatar raw, 16 conn" "uploads/s vs nginx WebDAV PUT" "req/s" ratio_ge 0.5 median
  A_URL="$(base main)/v1/environments/$ENV_ID/images"
  A_ENV=(WRK_METHOD=POST WRK_BODY="$CORPUS/avatar-400.jpg" WRK_HEADERS="$AUTH|Content-Type: image/jpeg")
  B_URL="http://127.0.0.1:$NGINX_PORT/dav/"
  B_ENV=(WRK_METHOD=PUT WRK_BODY="$CORPUS/avatar-400.jpg" WRK_UNIQUE=/dav/up- WRK_HEADERS="Content-Type: image/jpeg")
  pair upload_avatar rps 16
fi

if wants rss; then
  # An 8 MB photo under 40 MP and the 20 MiB limit, made from the corpus' largest photo
  # at twice its size (7680×4320, 33 MP; Q88 lands at about 8 MB). Cached in target/ as it
  # takes a few seconds to make.
  BIG8="$PWD/target/bench-cache/photo-7680x4320-q88.jpg"
  if [ ! -s "$BIG8" ]; then
    mkdir -p "$(dirname "$BIG8")"
    vips resize "$CORPUS/photo-3840x2160.jpg" "$WORK/big.v" 2
    vips copy "$WORK/big.v" "$BIG8.tmp.jpg[Q=88,strip]" && mv "$BIG8.tmp.jpg" "$BIG8"
    rm -f "$WORK/big.v"
  fi
  scenario rss_peak "upload $(( $(stat -c %s "$BIG8") / 1000000 )) MB photo (33 MP) ×16 at once" "server peak RSS (VmHWM)" MB abs_le 150 max
  scenario rss_idle "upload $(( $(stat -c %s "$BIG8") / 1000000 )) MB photo (33 MP) ×16 at once" "server RSS before the burst" MB none "" median
  scenario rss_wall "upload $(( $(stat -c %s "$BIG8") / 1000000 )) MB photo (33 MP) ×16 at once" "time for all 16" ms none "" median
  # A fresh server per round: VmHWM is a high-water mark over the process' life, and
  # earlier scenarios would otherwise set it.
  for r in $(seq "$ROUNDS"); do
    stop_server main; start_server main
    idle=$(vm "${PID[main]}" VmRSS)
    start=$(now_ns)
    clients=()
    for i in $(seq 16); do
      curl -sS -o /dev/null -w '%{http_code}\n' "$(base main)/v1/environments/$ENV_ID/images" \
        -H "$AUTH" -H 'Content-Type: image/jpeg' --data-binary "@$BIG8" >"$WORK/rss-$i.code" &
      clients+=($!)
    done
    wait "${clients[@]}" || true
    wall=$(ms_since "$start")
    hwm=$(vm "${PID[main]}" VmHWM)
    codes="$(cat "$WORK"/rss-*.code | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
    [ "$(grep -c '^201$' "$WORK"/rss-*.code | awk -F: '{s += $2} END {print s}')" = 16 ] ||
      note "rss round $r: not every upload answered 201: $codes"
    record rss_peak A "$r" "$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')"
    record rss_idle A "$r" "$(awk -v k="$idle" 'BEGIN {printf "%.1f", k * 1024 / 1e6}')"
    record rss_wall A "$r" "$wall"
    log "rss #$r: idle ${idle} kB, peak ${hwm} kB, ${wall} ms, answers: $codes"
  done
fi

if wants catalog; then
  # Two servers side by side, one on CATALOG_ROWS images and one on CATALOG_BASE, both
  # seeded the same way, so that their runs alternate like every other pair. Each gets
  # one real upload first: the seeder clones that row (see bench/seed_catalog.py).
  for name in cat_big cat_base; do
    rows=$([ "$name" = cat_big ] && echo "$CATALOG_ROWS" || echo "$CATALOG_BASE")
    start_server "$name"
    upload "$name" "$CORPUS/avatar-400.jpg" >/dev/null
    stop_server "$name"
    log "seeding $name with $rows rows"
    python3 bench/seed_catalog.py "$WORK/$name/data/imagestore.db" "$rows" >&2
    # Paths for GET by id: up to 10,000 ids drawn at random from the whole catalog, so
    # that requests touch rows (and index pages) all over it, not one hot row.
    python3 - "$WORK/$name/data/imagestore.db" "$(env_id "$name")" >"$WORK/$name/paths" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for (image_id,) in db.execute("SELECT id FROM images ORDER BY random() LIMIT 10000"):
    print(f"/v1/environments/{sys.argv[2]}/images/{image_id}")
PY
    start_server "$name"
    # A seeded row must read back: if the server rejected the rows, the figures would be
    # of 404s and 500s.
    probe="$(base "$name")$(tail -n1 "$WORK/$name/paths")"
    curl -fsS -o /dev/null -H "Authorization: Bearer $(token "$name")" "$probe" ||
      die "a seeded row of $name does not read back ($probe); see $WORK/$name/server.log"
  done
  big_list="$(base cat_big)/v1/environments/$(env_id cat_big)/images"
  base_list="$(base cat_base)/v1/environments/$(env_id cat_base)/images"
  A_ENV=(WRK_HEADERS="Authorization: Bearer $(token cat_big)")
  B_ENV=(WRK_HEADERS="Authorization: Bearer $(token cat_base)")
  scenario catalog_list "list page (default limit), $CATALOG_ROWS vs $CATALOG_BASE images" "p99 latency" ms ratio_le 1.5 median
  A_URL="$big_list"; B_URL="$base_list"
  pair catalog_list p99 32
  # The same page size from the middle of each catalog: the first page can be fast by
  # luck of layout; a cursor deep in the table needs the (environment, number) index.
  scenario catalog_list_mid "list page from the middle, $CATALOG_ROWS vs $CATALOG_BASE images" "p99 latency" ms ratio_le 1.5 median
  A_URL="$big_list?after=$((CATALOG_ROWS / 2))"; B_URL="$base_list?after=$((CATALOG_BASE / 2))"
  pair catalog_list_mid p99 32
  scenario catalog_get "GET by id (random), $CATALOG_ROWS vs $CATALOG_BASE images" "p99 latency" ms ratio_le 1.5 median
  A_URL="$(base cat_big)/"; A_ENV+=(WRK_PATHS="$WORK/cat_big/paths")
  B_URL="$(base cat_base)/"; B_ENV+=(WRK_PATHS="$WORK/cat_base/paths")
  pair catalog_get p99 32
fi

# --- report ---------------------------------------------------------------------------
DATE="$(date -u +%Y-%m-%dT%H:%MZ)"
COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src migrations Cargo.toml Cargo.lock bench || echo '+dirty')"
CHART="$WORK/results.svg"
python3 bench/report.py "$SCENARIOS" "$RAW" "$WORK/table.md" "$CHART" \
  "imagestore vs references — $DATE, commit $COMMIT"
echo
cat "$WORK/table.md"
[ -s "$NOTES" ] && { echo; cat "$NOTES"; }

if [ "$RECORD" = 1 ]; then
  cp "$CHART" bench/results.svg
  {
    echo
    echo "## Benchmark suite — $DATE, commit $COMMIT"
    echo
    echo "Machine: $(machine); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Command: \`$COMMAND\`. Load scenarios: $ROUNDS alternating A/B rounds of ${DURATION} s each (wrk, 2 threads) after a 1 s warm-up per side; cold renditions: $COLD_ROUNDS alternating rounds."
    echo "A is imagestore on its embedded default (SQLite + local files, defaults otherwise); B is the reference. A/B is the median of the per-round ratios, with their range."
    echo "Latency ratios below 1 and throughput ratios above 1 favour imagestore. The cold-rendition reference is libvips' CLI, process start included; the \"libvips work\" rows subtract the CLI's start-up (the \"libvips CLI start-up\" row), measured on an 8×8 image each round."
    echo "Chart of this run: [results.svg](results.svg)."
    echo
    cat "$WORK/table.md"
    if [ -s "$NOTES" ]; then echo; cat "$NOTES"; fi
  } >>bench/RESULTS.md
  log "appended to bench/RESULTS.md; chart in bench/results.svg"
fi
