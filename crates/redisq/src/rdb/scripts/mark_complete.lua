-- Success with retention: moves an active task to the completed set and counts it as
-- processed.
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] completed zset
-- KEYS[4] task hash
-- KEYS[5] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[6] total processed counter
-- KEYS[7] unique lock key (optional: only passed when the task has one)
-- ARGV[1] task id
-- ARGV[2] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[3] end of retention, unix seconds (score: now + retention)
-- ARGV[4] encoded TaskMessage with completed_at = now
-- ARGV[5] largest int64, 9223372036854775807 (the total wraps to 1 there)
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
-- A missing lease entry is not an error (decision D5).
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
-- Client::wait (redisq): when someone waits for this task, tell them. One ZSCORE when
-- nobody waits. The keys are derived from the task key `<ns>:{q}:t:<id>` (same hash tag).
local qprefix = string.sub(KEYS[4], 1, #KEYS[4] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[4], 1, string.find(KEYS[4], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[4])
end
if redis.call("INCR", KEYS[5]) == 1 then
    redis.call("EXPIREAT", KEYS[5], ARGV[2])
end
if redis.call("GET", KEYS[6]) == ARGV[5] then
    redis.call("SET", KEYS[6], 1)
else
    redis.call("INCR", KEYS[6])
end
if #KEYS >= 7 and redis.call("GET", KEYS[7]) == ARGV[1] then
    redis.call("DEL", KEYS[7])
end
return 1
