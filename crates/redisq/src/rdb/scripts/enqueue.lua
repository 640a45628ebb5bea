-- Adds a new task to the pending list.
-- KEYS[1] task hash
-- KEYS[2] pending list
-- ARGV[1] encoded TaskMessage
-- ARGV[2] task id
-- ARGV[3] current time, unix nanoseconds (pending_since)
-- KEYS[3] wake list: when the pending list was empty, one idle redisq server is woken
-- Returns 1 when added, 0 when a task with this ID already exists in the queue.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
if redis.call("LPUSH", KEYS[2], ARGV[2]) == 1 then
    -- Wake one idle server: at most one marker waits in the wake list.
    if redis.call("LLEN", KEYS[3]) == 0 then
        redis.call("RPUSH", KEYS[3], "1")
    end
end
return 1
