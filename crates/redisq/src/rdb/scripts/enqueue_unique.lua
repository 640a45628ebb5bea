-- Adds a new task to the pending list, guarded by a unique lock.
-- KEYS[1] unique lock key
-- KEYS[2] task hash
-- KEYS[3] pending list
-- ARGV[1] task id
-- ARGV[2] lock TTL, whole seconds
-- ARGV[3] encoded TaskMessage
-- ARGV[4] current time, unix nanoseconds (pending_since)
-- KEYS[4] wake list: when the pending list was empty, one idle redisq server is woken
-- Returns 1 when added, -1 when the lock is held, 0 on a task ID conflict.
-- As in asynq, the lock is taken before the ID check and kept on a conflict.
local locked = redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2])
if not locked then
    return -1
end
if redis.call("EXISTS", KEYS[2]) == 1 then
    return 0
end
redis.call("HSET", KEYS[2], "msg", ARGV[3], "state", "pending", "pending_since", ARGV[4],
    "unique_key", KEYS[1])
if redis.call("LPUSH", KEYS[3], ARGV[1]) == 1 then
    -- Wake one idle server: at most one marker waits in the wake list.
    if redis.call("LLEN", KEYS[4]) == 0 then
        redis.call("RPUSH", KEYS[4], "1")
    end
end
return 1
