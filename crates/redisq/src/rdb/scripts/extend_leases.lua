-- Extends the leases of active tasks, and reports the ones whose lease entry is gone (a
-- recoverer or an operator took the task: its worker must stop).
-- KEYS[1] lease zset
-- ARGV[1] lease duration, whole seconds: the new expiry is Redis's TIME plus this (unix
--         seconds), the clock every server's leases and recoverer use
-- ARGV[2..] task ids
-- Returns the IDs that had no lease entry (none is re-added).
local missing = {}
local until_s = tonumber(redis.call("TIME")[1]) + tonumber(ARGV[1])
for i = 2, #ARGV do
    if redis.call("ZSCORE", KEYS[1], ARGV[i]) then
        redis.call("ZADD", KEYS[1], "XX", until_s, ARGV[i])
    else
        missing[#missing + 1] = ARGV[i]
    end
end
return missing
