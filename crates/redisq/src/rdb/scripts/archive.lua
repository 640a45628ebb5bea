-- Failure for good: moves an active task to the archive, trims the archive and counts a
-- failure. Used for decodable tasks (field "msg" rewritten with the error) and for tasks
-- whose msg cannot be decoded (msg kept, field "error" set).
-- KEYS[1] task hash
-- KEYS[2] active list
-- KEYS[3] lease zset
-- KEYS[4] archived zset
-- KEYS[5] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[6] daily failed counter `failed:<YYYY-MM-DD>`
-- KEYS[7] total processed counter
-- KEYS[8] total failed counter
-- ARGV[1] task id
-- ARGV[2] name of the hash field to write: "msg" or "error"
-- ARGV[3] its value: the encoded TaskMessage (error_msg, last_failed_at) or the error text
-- ARGV[4] current time, unix seconds (score)
-- ARGV[5] age cutoff, unix seconds (now - max age): older entries are trimmed
-- ARGV[6] maximum number of archived tasks kept (decision D2: exactly this many)
-- ARGV[7] expiry of the daily counters, unix seconds (now + 90 days)
-- ARGV[8] largest int64, 9223372036854775807 (the totals wrap to 1 there)
-- ARGV[9] task key prefix `<ns>:{q}:t:`; the hashes of trimmed tasks are derived from it,
--         so they carry the queue's hash tag and live in the slot of KEYS[1..8]
-- ARGV[10] recovery only (empty otherwise): lease cutoff, unix seconds. A task whose lease
--         runs past it is held by a live worker (it was recovered and taken again since the
--         caller looked): it is left alone, "NOT FOUND".
-- A flow member (redisq flows) passes two more keys and three more arguments; its outcome is
-- then pushed to its queue's flow event outbox in this same atomic step, to be delivered to
-- the parent's slot (a parent may live in another Cluster slot):
-- KEYS[9] flow event outbox `<ns>:{q}:redisq:flow_events`
-- KEYS[10] the task's own flow hash: kept ARGV[13] seconds, so that a parent run again from
--          the archive still sees its children's results
-- ARGV[11] event prefix naming the parent, or "" when the task reports to no parent
-- ARGV[12] the error, for the parent
-- ARGV[13] how long the task's own flow hash is kept, seconds
-- Returns 1 (a flow member: the event pushed to the outbox, "" for none), or the error
-- "NOT FOUND" when the task is not in the active list.
-- A missing lease entry is not an error (decision D5). The unique lock is kept.
if ARGV[10] ~= nil and ARGV[10] ~= "" then
    local lease = redis.call("ZSCORE", KEYS[3], ARGV[1])
    if lease and tonumber(lease) > tonumber(ARGV[10]) then
        return redis.error_reply("NOT FOUND")
    end
end
if redis.call("LREM", KEYS[2], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[3], ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
-- Written before the trims so that a task trimmed at once leaves no hash behind.
redis.call("HSET", KEYS[1], ARGV[2], ARGV[3], "state", "archived")
-- Client::wait (redisq): when someone waits for this task, tell them. One ZSCORE when
-- nobody waits. The keys are derived from the task key `<ns>:{q}:t:<id>` (same hash tag).
local qprefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[1], 1, string.find(KEYS[1], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[1])
end
-- Trim by age, deleting the trimmed tasks' hashes (decision D2).
local old = redis.call("ZRANGE", KEYS[4], "-inf", ARGV[5], "BYSCORE")
for _, id in ipairs(old) do
    redis.call("DEL", ARGV[9] .. id)
end
if #old > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", ARGV[5])
end
-- Trim by size: keep the newest ARGV[6] entries.
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
-- As in asynq: when the processed total is at the maximum both totals restart at 1.
if redis.call("GET", KEYS[7]) == ARGV[8] then
    redis.call("SET", KEYS[7], 1)
    redis.call("SET", KEYS[8], 1)
else
    redis.call("INCR", KEYS[7])
    redis.call("INCR", KEYS[8])
end
if #KEYS >= 10 then
    redis.call("EXPIRE", KEYS[10], ARGV[13])
    local event = ""
    if ARGV[11] ~= "" then
        event = ARGV[11] .. "1:a," .. #ARGV[12] .. ":" .. ARGV[12] .. ","
        redis.call("RPUSH", KEYS[9], event)
    end
    return event
end
return 1
