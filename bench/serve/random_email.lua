-- wrk script: GET /api/v1/customers/{email} over random emails read from
-- $EMAILS (one a line); prints one RESULT line for run.sh.
local emails = {}
for line in io.lines(os.getenv("EMAILS")) do
  emails[#emails + 1] = "/api/v1/customers/" .. line:gsub("@", "%%40")
end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
end

function request()
  return wrk.format("GET", emails[math.random(#emails)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status))
end
