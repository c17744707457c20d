-- wrk script: each request is drawn at random from a pool of requests in a file.
-- Usage: wrk -s pool.lua URL -- POOL_FILE [HEADER_NAME HEADER_VALUE]...
-- POOL_FILE: one request a line, "METHOD<TAB>PATH" or "METHOD<TAB>PATH<TAB>JSON BODY".
-- done() prints one JSON line that bench/run.py reads.
local pool = {}
local count = 0

function init(args)
  local headers = {}
  local i = 2
  while args[i] and args[i + 1] do
    headers[args[i]] = args[i + 1]
    i = i + 2
  end
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      local h = {}
      for k, v in pairs(headers) do h[k] = v end
      if body ~= "" then
        h["Content-Type"] = "application/json"
      else
        body = nil
      end
      count = count + 1
      pool[count] = wrk.format(method, path, h, body)
    end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

function request()
  return pool[math.random(count)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, ' ..
    '"max_ms": %.3f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
