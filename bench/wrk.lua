-- wrk.lua - the one request generator of bench/run.py, identical for a floor
-- and for the product it is compared with.
--
--   wrk ... -s bench/wrk.lua URL -- get
--       GET URL
--   wrk ... -s bench/wrk.lua URL -- ids FILE
--       GET URL?request_id=ID, ID drawn at random from FILE (one id a line)
--   wrk ... -s bench/wrk.lua URL -- post SESSIONS
--       POST URL with a submit body for session b<k>, k cycling over SESSIONS
--
-- done() prints one line "WRK_JSON {...}" with the totals, latency
-- percentiles (microseconds) and error counts (status = HTTP status > 399).

local counter = 0

-- Main environment: number the threads so that each draws its own sequence.
function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
end

local mode = "get"
local ids = {}
local sessions = 50
local n = 0
local json_headers = { ["Content-Type"] = "application/json" }

function init(args)
    mode = args[1] or "get"
    if mode == "ids" then
        for line in io.lines(args[2]) do
            if #line > 0 then
                ids[#ids + 1] = line
            end
        end
        if #ids == 0 then
            error("wrk.lua: no ids in " .. tostring(args[2]))
        end
    elseif mode == "post" then
        sessions = tonumber(args[2]) or 50
    end
    math.randomseed(os.time() + 7919 * (tid or 0))
end

function request()
    n = n + 1
    if mode == "ids" then
        return wrk.format("GET", wrk.path .. "?request_id=" .. ids[math.random(#ids)])
    elseif mode == "post" then
        local body = string.format(
            '{"session_id":"b%d","client_id":"bench","message":"Deploy build %d-%d to staging?",'
                .. '"options":["Deploy","Hold"]}',
            (n + (tid or 0)) % sessions, tid or 0, n)
        return wrk.format("POST", wrk.path, json_headers, body)
    end
    return wrk.format("GET", wrk.path)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRK_JSON {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,'
            .. '"p99_us":%d,"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,'
            .. '"status":%d,"timeout":%d}}\n',
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
