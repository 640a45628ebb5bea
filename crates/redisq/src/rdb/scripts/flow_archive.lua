-- Failure for good of a flow member: archive.lua plus, in the same atomic step, the child's
-- outcome pushed to its queue's flow event outbox (see flow_done.lua). A parent's own flow
-- hash is kept for ARGV[12] seconds, so that a parent run again from the archive still sees
-- its children's results.
-- KEYS[1..8] as archive.lua (task hash, active, lease, archived, daily processed, daily
--            failed, total processed, total failed)
-- KEYS[9] flow event outbox `<ns>:{q}:redisq:flow_events`
-- KEYS[10] the task's own flow hash
-- ARGV[1..9] as archive.lua
-- ARGV[10] event prefix naming the parent, or "" when the task reports to no parent
-- ARGV[11] the error, for the parent
-- ARGV[12] how long the task's own flow hash is kept, seconds
-- Returns the event pushed to the outbox ("" for none), or the error "NOT FOUND" when the
-- task is not in the active list.
if redis.call("LREM", KEYS[2], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[3], ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
redis.call("HSET", KEYS[1], ARGV[2], ARGV[3], "state", "archived")
-- Client::wait (redisq), as in archive.lua: one ZSCORE when nobody waits.
local qprefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[1], 1, string.find(KEYS[1], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[1])
end
local old = redis.call("ZRANGE", KEYS[4], "-inf", ARGV[5], "BYSCORE")
for _, id in ipairs(old) do
    redis.call("DEL", ARGV[9] .. id)
end
if #old > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", ARGV[5])
end
local excess = redis.call("ZCARD", KEYS[4]) - tonumber(ARGV[6])
if excess > 0 then
    local ids = redis.call("ZRANGE", KEYS[4], 0, excess - 1)
    for _, id in ipairs(ids) do
        redis.call("DEL", ARGV[9] .. id)
    end
    redis.call("ZREMRANGEBYRANK", KEYS[4], 0, excess - 1)
end
if redis.call("INCR", KEYS[5]) == 1 then
    redis.call("EXPIREAT", KEYS[5], ARGV[7])
end
if redis.call("INCR", KEYS[6]) == 1 then
    redis.call("EXPIREAT", KEYS[6], ARGV[7])
end
if redis.call("GET", KEYS[7]) == ARGV[8] then
    redis.call("SET", KEYS[7], 1)
    redis.call("SET", KEYS[8], 1)
else
    redis.call("INCR", KEYS[7])
    redis.call("INCR", KEYS[8])
end
redis.call("EXPIRE", KEYS[10], ARGV[12])
local event = ""
if ARGV[10] ~= "" then
    event = ARGV[10] .. "1:a," .. #ARGV[11] .. ":" .. ARGV[11] .. ","
    redis.call("RPUSH", KEYS[9], event)
end
return event
