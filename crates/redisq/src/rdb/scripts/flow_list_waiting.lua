-- One page of the waiting flow parents of a queue (Inspector list_waiting_tasks).
-- KEYS[1] waiting zset
-- ARGV[1] rank start
-- ARGV[2] rank stop
-- ARGV[3] task key prefix `<ns>:{q}:t:`
-- ARGV[4] flow key prefix `<ns>:{q}:redisq:flow:` (same hash tag)
-- Returns {id, msg, score, children, left, policy, unfinished, ...}, oldest first; msg is nil
-- when the task hash is gone; unfinished names the children not finished yet as netstrings
-- (`<len>:<queue>,<len>:<id>,` per child).
local out = {}
local entries = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2], "WITHSCORES")
for i = 1, #entries, 2 do
    local id = entries[i]
    local f = redis.call("HMGET", ARGV[4] .. id, "children", "left", "policy")
    out[#out + 1] = id
    out[#out + 1] = redis.call("HGET", ARGV[3] .. id, "msg") or false
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = f[1] or "0"
    out[#out + 1] = f[2] or "0"
    out[#out + 1] = f[3] or "archive"
    local unfinished = {}
    for c = 0, tonumber(f[1] or "0") - 1 do
        local g = redis.call("HMGET", ARGV[4] .. id, "s:" .. c, "q:" .. c, "i:" .. c)
        if g[1] == "w" and g[2] and g[3] then
            unfinished[#unfinished + 1] = #g[2] .. ":" .. g[2] .. "," .. #g[3] .. ":" .. g[3] .. ","
        end
    end
    out[#out + 1] = table.concat(unfinished)
end
return out
