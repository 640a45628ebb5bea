-- Decides whether a group is ready to be aggregated and, if so, moves its oldest members
-- into a new aggregation set (asynq's aggregationCheck, spec §5.3).
-- KEYS[1] group zset `g:<group>`
-- KEYS[2] the new aggregation set zset `g:<group>:<set id>`
-- KEYS[3] aggregation_sets zset
-- KEYS[4] groups set
-- ARGV[1] max size (0 = no limit)
-- ARGV[2] max delay, seconds (0 = no limit)
-- ARGV[3] grace period, seconds
-- ARGV[4] set deadline, unix seconds (score in aggregation_sets)
-- ARGV[5] check time, unix seconds
-- ARGV[6] group name
-- Returns 1 when a set was created, 0 otherwise.
--
-- A set is created when (1) the group holds at least max size tasks, (2) its oldest task
-- waited max delay or longer, or (3) its newest task waited the grace period or longer.
-- Members keep their scores (the time they joined the group). The group leaves `groups`
-- when this empties it.
local size = redis.call("ZCARD", KEYS[1])
if size == 0 then
    return 0
end
local max_size = tonumber(ARGV[1])
local now = tonumber(ARGV[5])

local function take(count)
    -- count = 0 takes every member.
    local res = redis.call("ZRANGE", KEYS[1], 0, count - 1, "WITHSCORES")
    for i = 1, #res - 1, 2 do
        redis.call("ZADD", KEYS[2], res[i + 1], res[i])
    end
    redis.call("ZREMRANGEBYRANK", KEYS[1], 0, count - 1)
    redis.call("ZADD", KEYS[3], ARGV[4], KEYS[2])
    if max_size == 0 or size <= max_size then
        redis.call("SREM", KEYS[4], ARGV[6])
    end
    return 1
end

if max_size ~= 0 and size >= max_size then
    return take(max_size)
end
local max_delay = tonumber(ARGV[2])
if max_delay ~= 0 then
    local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
    if tonumber(oldest[2]) <= now - max_delay then
        return take(max_size)
    end
end
local newest = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
if tonumber(newest[2]) <= now - tonumber(ARGV[3]) then
    return take(max_size)
end
return 0
