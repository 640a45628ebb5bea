-- Reads one task for Inspector task_info.
-- KEYS[1] task hash
-- ARGV[1] task id
-- ARGV[2] queue key prefix `<ns>:{q}:` (state zsets are derived from it; same hash tag)
-- Returns nil when the task does not exist, else {msg, state, score, result, progress}: score
-- is the ZSCORE in the scheduled or retry zset for those states (nil otherwise or when
-- absent), result and progress (redisq's `redisq_progress`) are nil when the task has none.
local fields = redis.call("HMGET", KEYS[1], "msg", "state", "result", "redisq_progress")
if not fields[1] then
    return nil
end
local state = fields[2] or ""
local score = false
if state == "scheduled" or state == "retry" then
    score = redis.call("ZSCORE", ARGV[2] .. state, ARGV[1]) or false
end
return {fields[1], state, score, fields[3] or false, fields[4] or false}
