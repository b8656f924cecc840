-- wrk script for one bench scenario, configured by the environment (bench/scenarios.py):
--   BENCH_METHOD, BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_AUTHORIZATION
--   BENCH_PATHS: a file of request paths, one a line, cycled (otherwise the URL's path)
--   BENCH_IDEMPOTENCY_PREFIX: when set, every request carries a fresh Idempotency-Key,
--     <prefix>-<thread>-<counter> (the prefix is new for each run of wrk)
-- done() prints one "BENCH_RESULT {json}" line for bench/generators.py to read.

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
   wrk.body = body
end
local content_type = os.getenv("BENCH_CONTENT_TYPE") or ""
if content_type ~= "" then
   wrk.headers["Content-Type"] = content_type
end
local authorization = os.getenv("BENCH_AUTHORIZATION") or ""
if authorization ~= "" then
   wrk.headers["Authorization"] = authorization
end

local paths_file = os.getenv("BENCH_PATHS") or ""
local idempotency_prefix = os.getenv("BENCH_IDEMPOTENCY_PREFIX") or ""

-- setup runs once per thread, in the main Lua state: each thread gets its own number
local threads_made = 0
function setup(thread)
   threads_made = threads_made + 1
   thread:set("thread_number", threads_made)
end

if paths_file ~= "" then
   local requests = {}
   local next_index = 0

   -- init runs after wrk has set the Host header, so the requests carry host:port
   function init(args)
      for line in io.lines(paths_file) do
         if line ~= "" then
            requests[#requests + 1] = wrk.format(nil, line)
         end
      end
   end

   function request()
      next_index = next_index % #requests + 1
      return requests[next_index]
   end
elseif idempotency_prefix ~= "" then
   local counter = 0

   function request()
      counter = counter + 1
      wrk.headers["Idempotency-Key"] = string.format(
         "%s-%d-%d", idempotency_prefix, thread_number or 0, counter
      )
      return wrk.format()
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_s": %.6f, "p50_us": %.1f, "p99_us": %.1f, '
         .. '"mean_us": %.1f, "max_us": %.1f, "http_errors": %d, "errors": %d}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
      latency.mean, latency.max, errors.status,
      errors.connect + errors.read + errors.write + errors.timeout
   ))
end
