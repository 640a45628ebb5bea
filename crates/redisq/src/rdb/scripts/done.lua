-- Success without retention: deletes an active task and counts it as processed.
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] task hash
-- KEYS[4] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[5] total processed counter
-- KEYS[6] unique lock key (optional: only passed when the task has one)
-- ARGV[1] task id
-- ARGV[2] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[3] largest int64, 9223372036854775807 (the total wraps to 1 there)
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
-- A missing lease entry is not an error (decision D5: recovered tasks may have none).
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
-- Client::wait (redisq): when someone waits for this task, keep its message for a minute
-- (the hash goes now) and tell the waiters. One ZSCORE when nobody waits. The keys are
-- derived from the task key `<ns>:{q}:t:<id>`, so they share its hash tag.
local qprefix = string.sub(KEYS[3], 1, #KEYS[3] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    local msg = redis.call("HGET", KEYS[3], "msg")
    if msg then
        redis.call("SET", qprefix .. "redisq:finished:" .. ARGV[1], msg, "PX", 60000)
    end
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[3], 1, string.find(KEYS[3], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[3])
end
redis.call("DEL", KEYS[3])
if redis.call("INCR", KEYS[4]) == 1 then
    redis.call("EXPIREAT", KEYS[4], ARGV[2])
end
if redis.call("GET", KEYS[5]) == ARGV[3] then
    redis.call("SET", KEYS[5], 1)
else
    redis.call("INCR", KEYS[5])
end
if #KEYS >= 6 and redis.call("GET", KEYS[6]) == ARGV[1] then
    redis.call("DEL", KEYS[6])
end
return 1
