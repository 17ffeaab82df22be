-- wrk script: POST the incoming-call webhook as Twilio does, a new CallSid and caller each
-- request (bench/incoming-wrk.sh). Each thread gets its own number, so no two requests share a
-- CallSid; any answer but 200 is counted and printed at the end.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

n = 0
failed = 0

function request()
  n = n + 1
  local sid = string.format("CA%08x%08x%016x", id, os.time() % 0x7fffffff, n)
  local from = string.format("%%2B52%02d%08d", 10 + id % 90, n % 100000000)
  local body = "AccountSid=AC0be0c0000000000000000000000000b0&ApiVersion=2010-04-01&CallSid=" .. sid ..
    "&Direction=inbound&From=" .. from .. "&Caller=" .. from ..
    "&To=%2B525500000000&Called=%2B525500000000&CallStatus=ringing&FromCountry=MX&ToCountry=MX"
  return wrk.format("POST", "/twilio/voice", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
  end
  io.write(string.format("failed %d\n", failed_total))
end
