-- Adds a new task to an aggregation group.
-- KEYS[1] task hash
-- KEYS[2] group zset
-- KEYS[3] groups set
-- ARGV[1] encoded TaskMessage
-- ARGV[2] task id
-- ARGV[3] current time, unix seconds (score)
-- ARGV[4] group name
-- Returns 1 when added, 0 on a task ID conflict.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
