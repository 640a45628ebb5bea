-- Adds a new task to the scheduled set, guarded by a unique lock.
-- KEYS[1] unique lock key
-- KEYS[2] task hash
-- KEYS[3] scheduled zset
-- ARGV[1] task id
-- ARGV[2] lock TTL, whole seconds
-- ARGV[3] process-at, unix seconds (score)
-- ARGV[4] encoded TaskMessage
-- ARGV[5] group name, or "" (decision D3)
-- ARGV[6] wake-up channel (decision D10), or "" for none
-- ARGV[7] wake-up message: forwarders wake when this task is the earliest one
-- Returns 1 when added, -1 when the lock is held, 0 on a task ID conflict.
local locked = redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2])
if not locked then
    return -1
end
if redis.call("EXISTS", KEYS[2]) == 1 then
    return 0
end
redis.call("HSET", KEYS[2], "msg", ARGV[4], "state", "scheduled", "unique_key", KEYS[1])
if ARGV[5] ~= "" then
    redis.call("HSET", KEYS[2], "group", ARGV[5])
end
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
if ARGV[6] ~= "" and redis.call("ZRANGE", KEYS[3], 0, 0)[1] == ARGV[1] then
    redis.call("PUBLISH", ARGV[6], ARGV[7])
end
return 1
