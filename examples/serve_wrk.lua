-- A wrk script for `govern serve` (docs/performance.md): every connection sends
-- `POST /v1/decide` with the events of a JSONL file in turn, one request at a time.
--
--   wrk -t1 -c32 -d10s --latency -s examples/serve_wrk.lua http://127.0.0.1:18787 -- testdata/traces/sample.jsonl
--
-- The requests are built once per thread (in `init`); `request` only hands the next one out,
-- so the generator spends its time on the sockets, not on building requests.
local requests = {}
local n = 0
local i = 0

function init(args)
  local path = args[1] or "testdata/traces/sample.jsonl"
  for line in io.lines(path) do
    if line:match("%S") then
      n = n + 1
      requests[n] = wrk.format("POST", "/v1/decide", { ["Content-Type"] = "application/json" }, line)
    end
  end
  assert(n > 0, "no events in " .. path)
end

function request()
  i = i % n + 1
  return requests[i]
end

-- No `response` function: wrk counts the answers that are not 2xx itself ("Non-2xx or
-- 3xx responses"), without a call into Lua per answer.
