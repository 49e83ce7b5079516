-- POST a different JSON body per request, cycling through the lines of the file named by
-- WRK_BODY (one JSON record per line; benchmarks/monitor.py writes test-split records, so
-- the logged traffic looks like the reference and the drift monitor sees no drift).
local path = os.getenv("WRK_BODY")
local bodies = {}
for line in io.lines(path) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
assert(#bodies > 0, "WRK_BODY must name a file of JSON lines")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
