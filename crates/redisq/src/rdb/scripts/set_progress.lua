-- TaskContext::set_progress: stores the progress of a running task in its hash (field
-- `redisq_progress`, ignored by Go asynq), without recreating a deleted task and only while
-- the task is active.
-- KEYS[1] task hash
-- ARGV[1] the encoded progress `<percent>|<updated at, unix ms>|<message>`
-- Returns 1 when written, 0 when the task does not exist, -1 when it is not active.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return 0
end
if state ~= "active" then
    return -1
end
redis.call("HSET", KEYS[1], "redisq_progress", ARGV[1])
return 1
