-- Adds a new task to an aggregation group, guarded by a unique lock.
-- KEYS[1] task hash
-- KEYS[2] group zset
-- KEYS[3] groups set
-- KEYS[4] unique lock key
-- ARGV[1] encoded TaskMessage
-- ARGV[2] task id
-- ARGV[3] current time, unix seconds (score)
-- ARGV[4] group name
-- ARGV[5] lock TTL, whole seconds
-- Returns 1 when added, -1 when the lock is held, 0 on a task ID conflict.
-- Decision D4: unlike asynq, the hash records unique_key so delete/run can release the lock.
local locked = redis.call("SET", KEYS[4], ARGV[2], "NX", "EX", ARGV[5])
if not locked then
    return -1
end
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4],
    "unique_key", KEYS[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
