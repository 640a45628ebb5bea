-- Adds many new tasks of one queue in one call (the batched form of enqueue.lua,
-- enqueue_unique.lua, schedule.lua, schedule_unique.lua, add_to_group.lua and
-- add_to_group_unique.lua, with the same effects task by task).
-- KEYS[1] pending list
-- KEYS[2] scheduled zset
-- KEYS[3] groups set
-- KEYS[4] wake list: when the pending list was empty, one idle redisq server is woken
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2] group key prefix `<ns>:{q}:g:`
-- ARGV[3] wake-up channel of idle forwarders (decision D10), or "" for none
-- ARGV[4] wake-up message for scheduled tasks
-- ARGV[5..] 7 fields per task: kind ("p" pending, "s" scheduled, "g" group), task id,
--   encoded TaskMessage, number (p: now in unix ns; s: process-at in unix s; g: now in unix s),
--   group name or "", unique lock key or "", lock TTL in seconds (or "")
-- Task hashes, group zsets and lock keys are derived from ARGV; all carry the queue's hash
-- tag, so they live in the slot of KEYS[1..4].
-- Returns one code per task: 1 added, 0 task ID conflict, -1 unique lock held.
local out = {}
local woke_pending = false
local scheduled = false
for i = 5, #ARGV, 7 do
    local kind, id, msg, num = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local group, lock, ttl = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    local key = ARGV[1] .. id
    local code = 1
    -- As in asynq, the lock is taken before the ID check and kept on a conflict.
    if lock ~= "" and not redis.call("SET", lock, id, "NX", "EX", ttl) then
        code = -1
    elseif redis.call("EXISTS", key) == 1 then
        code = 0
    elseif kind == "p" then
        redis.call("HSET", key, "msg", msg, "state", "pending", "pending_since", num)
        if redis.call("LPUSH", KEYS[1], id) == 1 then
            woke_pending = true
        end
    elseif kind == "s" then
        redis.call("HSET", key, "msg", msg, "state", "scheduled")
        if group ~= "" then
            redis.call("HSET", key, "group", group)
        end
        redis.call("ZADD", KEYS[2], num, id)
        scheduled = true
    else
        redis.call("HSET", key, "msg", msg, "state", "aggregating", "group", group)
        redis.call("ZADD", ARGV[2] .. group, num, id)
        redis.call("SADD", KEYS[3], group)
    end
    if code == 1 and lock ~= "" then
        redis.call("HSET", key, "unique_key", lock)
    end
    out[#out + 1] = code
end
if woke_pending then
    -- Wake one idle server: at most one marker waits in the wake list.
    if redis.call("LLEN", KEYS[4]) == 0 then
        redis.call("RPUSH", KEYS[4], "1")
    end
end
if scheduled and ARGV[3] ~= "" then
    redis.call("PUBLISH", ARGV[3], ARGV[4])
end
return out
