-- Client::wait: reads a task and, while it has not finished, registers (or renews) the
-- caller's interest in it, in one atomic step, so that a completion after this call always
-- sees the registration and publishes.
-- KEYS[1] task hash
-- KEYS[2] waiters zset `<ns>:{q}:redisq:waiters` (ID → when the registration lapses, unix ms)
-- KEYS[3] finished marker `<ns>:{q}:redisq:finished:<id>` (message of a task completed
--         without retention while someone waited)
-- ARGV[1] task id
-- ARGV[2] queue key prefix `<ns>:{q}:` (state zsets are derived from it; same hash tag)
-- ARGV[3] registration lapses at, unix ms; "0" to read without registering
-- ARGV[4] now, unix ms: registrations that lapsed before are dropped
-- Returns nil when the task does not exist and left no marker; {msg, "gone"} for a task
-- completed without retention (the marker); else {msg, state, score, result, progress} as
-- inspect_task_info.lua plus the progress field.
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[4])
local fields = redis.call("HMGET", KEYS[1], "msg", "state", "result", "redisq_progress")
if not fields[1] then
    local msg = redis.call("GET", KEYS[3])
    if msg then
        return {msg, "gone"}
    end
    return nil
end
local state = fields[2] or ""
if state == "completed" or state == "archived" then
    redis.call("ZREM", KEYS[2], ARGV[1])
elseif ARGV[3] ~= "0" then
    -- GT adds a new ID and never shortens another waiter's registration for the same one.
    redis.call("ZADD", KEYS[2], "GT", ARGV[3], ARGV[1])
    -- The zset disappears by itself a minute after its last registration lapses, so a
    -- crashed waiter leaves nothing behind for the completion scripts to look at.
    local last = redis.call("ZRANGE", KEYS[2], -1, -1, "WITHSCORES")
    redis.call("PEXPIREAT", KEYS[2], tonumber(last[2]) + 60000)
end
local score = false
if state == "scheduled" or state == "retry" then
    score = redis.call("ZSCORE", ARGV[2] .. state, ARGV[1]) or false
end
return {fields[1], state, score, fields[3] or false, fields[4] or false}
