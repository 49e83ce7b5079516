-- POST one JSON body on every request. The body is read from the file named by the
-- WRK_BODY environment variable (benchmarks/serve.py writes it). wrk itself reports
-- "Non-2xx or 3xx responses", which serve.py checks.
local path = os.getenv("WRK_BODY")
local file = assert(io.open(path, "rb"), "WRK_BODY must name a readable file")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
