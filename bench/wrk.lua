-- wrk(1) script shared by every HTTP load scenario of bench/run.sh, for imagestore and
-- its nginx reference alike, so that both sides pay the same client-side costs.
--
-- Configured through the environment (wrk passes no options to scripts before `init`,
-- and the same values must reach every thread):
--   WRK_METHOD      GET (default), POST or PUT
--   WRK_BODY        a file sent as the body of every request (uploads)
--   WRK_HEADERS     "Name: value" pairs separated by "|" (e.g. the bearer token)
--   WRK_PATHS       a file of paths, one a line; each request picks one at random
--                   (GET by id over a large catalog, so that it is not one cached row)
--   WRK_UNIQUE      a path prefix; each request goes to PREFIX<run>-<thread>-<n>.jpg
--                   (WebDAV PUT of a new file each time, as each imagestore upload is a
--                   new image); WRK_RUN, set by bench/run.sh per wrk run, keeps runs apart.
--                   Never a name already there: replacing a file also frees the old
--                   one's blocks, which on a disk mounted with `discard` cut nginx from
--                   18,800 to 1,700 PUTs/s, no longer the floor the scenario wants.
--   WRK_PAUSE_MS    each connection pauses this many milliseconds after every response
--                   before it sends the next request: a paced load below saturation
--                   (wrk starts a request's clock when it sends it, so the pause is not
--                   counted in its latency)
--
-- When neither WRK_PATHS nor WRK_UNIQUE is set no `request` function is defined, which
-- lets wrk build the request once and resend it (its fastest mode).
--
-- `done` prints one machine-readable line, RESULT key=value …, with latencies in
-- microseconds; bench/run.sh reads only that line.

local method = os.getenv("WRK_METHOD") or "GET"
local body_file = os.getenv("WRK_BODY")
local header_list = os.getenv("WRK_HEADERS")
local paths_file = os.getenv("WRK_PATHS")
local unique_prefix = os.getenv("WRK_UNIQUE")
local pause_ms = tonumber(os.getenv("WRK_PAUSE_MS") or "")

wrk.method = method
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
if header_list and header_list ~= "" then
  for pair in string.gmatch(header_list, "[^|]+") do
    local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
    if name then
      wrk.headers[name] = value
    end
  end
end

if pause_ms and pause_ms > 0 then
  function delay()
    return pause_ms
  end
end

-- Each thread gets its own number so that WRK_UNIQUE paths never collide.
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

if paths_file and paths_file ~= "" then
  local paths = {}
  for line in io.lines(paths_file) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  assert(#paths > 0, "WRK_PATHS is empty")
  function init(args)
    -- Different threads must not replay the same sequence.
    math.randomseed(os.time() + (thread_id or 0) * 7919)
  end
  function request()
    return wrk.format(nil, paths[math.random(#paths)])
  end
elseif unique_prefix and unique_prefix ~= "" then
  local run = os.getenv("WRK_RUN") or "0"
  local n = 0
  function request()
    n = n + 1
    return wrk.format(nil, unique_prefix .. run .. "-" .. tostring(thread_id or 0) .. "-" .. n .. ".jpg")
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d "
      .. "err_status=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
    summary.requests, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
