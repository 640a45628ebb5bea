-- Success of a flow member (done.lua and mark_complete.lua in one, for tasks whose headers
-- make them flow members): in the same atomic step, a child's outcome is pushed to its
-- queue's flow event outbox, from which it is delivered to the parent's slot (a parent may
-- live in another Cluster slot, so it cannot be touched here). A parent's own flow hash is
-- deleted: its children's results are no longer needed.
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] task hash
-- KEYS[4] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[5] total processed counter
-- KEYS[6] completed zset
-- KEYS[7] flow event outbox `<ns>:{q}:redisq:flow_events`
-- KEYS[8] the task's own flow hash (DEL is a no-op when it is not a parent)
-- KEYS[9] unique lock key (optional: only passed when the task has one)
-- ARGV[1] task id
-- ARGV[2] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[3] largest int64, 9223372036854775807 (the total wraps to 1 there)
-- ARGV[4] end of retention, unix seconds (score), or "" to delete the task
-- ARGV[5] encoded TaskMessage with completed_at = now (with retention), or ""
-- ARGV[6] event prefix naming the parent (netstrings of its queue, ID and this child's
--         index), or "" when the task reports to no parent
-- Returns the event pushed to the outbox ("" for none), or the error "NOT FOUND" when the
-- task is not in the active list.
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
local result = redis.call("HGET", KEYS[3], "result")
-- Client::wait (redisq), as in done.lua and mark_complete.lua: one ZSCORE when nobody waits.
local qprefix = string.sub(KEYS[3], 1, #KEYS[3] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    if ARGV[4] == "" then
        local msg = redis.call("HGET", KEYS[3], "msg")
        if msg then
            redis.call("SET", qprefix .. "redisq:finished:" .. ARGV[1], msg, "PX", 60000)
        end
    end
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[3], 1, string.find(KEYS[3], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[3])
end
if ARGV[4] ~= "" then
    redis.call("ZADD", KEYS[6], ARGV[4], ARGV[1])
    redis.call("HSET", KEYS[3], "msg", ARGV[5], "state", "completed")
else
    redis.call("DEL", KEYS[3])
end
if redis.call("INCR", KEYS[4]) == 1 then
    redis.call("EXPIREAT", KEYS[4], ARGV[2])
end
if redis.call("GET", KEYS[5]) == ARGV[3] then
    redis.call("SET", KEYS[5], 1)
else
    redis.call("INCR", KEYS[5])
end
if #KEYS >= 9 and redis.call("GET", KEYS[9]) == ARGV[1] then
    redis.call("DEL", KEYS[9])
end
redis.call("DEL", KEYS[8])
local event = ""
if ARGV[6] ~= "" then
    local outcome, data = "d", ""
    if result then
        outcome, data = "c", result
    end
    event = ARGV[6] .. #outcome .. ":" .. outcome .. "," .. #data .. ":" .. data .. ","
    redis.call("RPUSH", KEYS[7], event)
end
return event
