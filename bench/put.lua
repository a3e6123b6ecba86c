-- Registration writes: each request answers for the next body in the list, alternating
-- joined/declined, as an administrator on the bodies' behalf (hence the reason).
local codes = {}
for code in string.gmatch(os.getenv("BENCH_CODES"), "[^,]+") do codes[#codes + 1] = code end
local round = os.getenv("BENCH_ROUND")
local counter = 0

wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

request = function()
  counter = counter + 1
  local code = codes[(counter % #codes) + 1]
  local status = (counter % 2 == 0) and "joined" or "declined"
  local body = '{"status":"' .. status .. '","reason":"bench"}'
  return wrk.format(nil, "/api/v1/rounds/" .. round .. "/participations/" .. code, nil, body)
end
