-- One page of a pending or active list (Inspector list_*_tasks).
-- KEYS[1] pending or active list
-- KEYS[2] lease zset (read only when ARGV[4] is "1")
-- ARGV[1] LRANGE start (negative: counted from the oldest end, the right)
-- ARGV[2] LRANGE stop
-- ARGV[3] task key prefix `<ns>:{q}:t:` (task hashes carry the queue's hash tag)
-- ARGV[4] "1" to report each task's lease score (and progress: the active list)
-- Returns {id, msg, result, lease, progress, ...} in LRANGE order (newest first); msg is nil
-- when the task hash is gone, result, lease and progress are nil when absent.
local out = {}
for _, id in ipairs(redis.call("LRANGE", KEYS[1], ARGV[1], ARGV[2])) do
    local fields = redis.call("HMGET", ARGV[3] .. id, "msg", "result", "redisq_progress")
    local lease = false
    if ARGV[4] == "1" then
        lease = redis.call("ZSCORE", KEYS[2], id) or false
    end
    out[#out + 1] = id
    out[#out + 1] = fields[1] or false
    out[#out + 1] = fields[2] or false
    out[#out + 1] = lease
    out[#out + 1] = (ARGV[4] == "1" and fields[3]) or false
end
return out
