-- wrk script: pipelines 16 GET requests per write.
--
--     wrk -s pipeline.lua http://127.0.0.1:PORT/ [-- DEPTH]
--
-- wrk counts the requests in the string the request function returns (it parses it), waits for
-- that many responses on the connection, and counts each response, so Requests/sec is in
-- requests, not in batches.
local depth = 16

function init(args)
    if args[1] then
        depth = tonumber(args[1])
    end
    local one = wrk.format("GET", wrk.path)
    batch = string.rep(one, depth)
end

function request()
    return batch
end
