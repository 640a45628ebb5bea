-- Takes the oldest pending task of a queue and leases it, in one atomic step (decision D12).
-- KEYS[1] pending list
-- KEYS[2] paused flag
-- KEYS[3] active list
-- KEYS[4] lease zset
-- ARGV[1] lease expiry, unix seconds (score)
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it, so they carry
--         the queue's hash tag and live in the slot of KEYS[1..4]
-- Returns {id, msg}, or nil when the queue is paused or empty.
-- A pending ID whose task hash is gone cannot be processed: it is dropped and the next
-- one is tried, up to 100 per call (nil after that; the next call goes on).
if redis.call("EXISTS", KEYS[2]) == 1 then
    return nil
end
for _ = 1, 100 do
    -- RPOP + LPUSH: asynq's RPOPLPUSH, skipping IDs without a task.
    local id = redis.call("RPOP", KEYS[1])
    if not id then
        return nil
    end
    local key = ARGV[2] .. id
    local msg = redis.call("HGET", key, "msg")
    if msg then
        redis.call("LPUSH", KEYS[3], id)
        redis.call("HSET", key, "state", "active")
        redis.call("HDEL", key, "pending_since")
        redis.call("ZADD", KEYS[4], ARGV[1], id)
        return {id, msg}
    end
end
return nil
