-- Puts an active task back at the front of its pending list (shutdown).
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] pending list
-- KEYS[4] task hash
-- KEYS[5] wake list: when the pending list was empty, one idle redisq server is woken
-- ARGV[1] task id
-- ARGV[2] current time, unix nanoseconds (pending_since; decision D9, asynq leaves it unset)
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
-- Dequeue pops from the right, so the right end is the front of the line.
if redis.call("RPUSH", KEYS[3], ARGV[1]) == 1 then
    -- Wake one idle server: at most one marker waits in the wake list.
    if redis.call("LLEN", KEYS[5]) == 0 then
        redis.call("RPUSH", KEYS[5], "1")
    end
end
redis.call("HSET", KEYS[4], "state", "pending", "pending_since", ARGV[2])
return 1
