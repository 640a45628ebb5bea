-- Moves one task to the archive and trims the archive (Inspector archive_task).
-- KEYS[1] task hash
-- KEYS[2] archived zset
-- KEYS[3] groups set
-- KEYS[4] pending list
-- ARGV[1] task id
-- ARGV[2] current time, unix seconds (score)
-- ARGV[3] age cutoff, unix seconds (now - max age): older archived tasks are trimmed
-- ARGV[4] maximum number of archived tasks kept
-- ARGV[5] queue key prefix `<ns>:{q}:` (state zsets are derived from it)
-- ARGV[6] group key prefix `<ns>:{q}:g:`
-- ARGV[7] task key prefix `<ns>:{q}:t:`
-- Derived keys carry the queue's hash tag, so they live in the slot of KEYS[1..4].
-- Returns 1 when archived, 0 when the task does not exist, -1 when it is already archived,
-- -2 when it is active, -3 when it is not where its state says.
-- Decision D2: trimmed tasks' hashes are deleted (asynq's inspector leaves them behind).
-- -4 when it is a flow parent waiting for its children (it runs when they completed; delete
-- the flow to drop it).
-- The unique lock is kept, as in asynq.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return 0
end
if state == "active" then
    return -2
end
if state == "archived" then
    return -1
end
if state == "waiting" then
    return -4
end
if state == "pending" then
    if redis.call("LREM", KEYS[4], 1, ARGV[1]) == 0 then
        -- Held back by a limit (limits.lua): it is in its type's held list.
        local found = false
        for _, ty in ipairs(redis.call("SMEMBERS", ARGV[5] .. "redisq:held")) do
            local hk = ARGV[5] .. "redisq:held:t:" .. ty
            if redis.call("LREM", hk, 1, ARGV[1]) > 0 then
                if redis.call("EXISTS", hk) == 0 then
                    redis.call("SREM", ARGV[5] .. "redisq:held", ty)
                end
                found = true
                break
            end
        end
        if not found then
            return -3
        end
    end
elseif state == "aggregating" then
    local group = redis.call("HGET", KEYS[1], "group")
    if not group or redis.call("ZREM", ARGV[6] .. group, ARGV[1]) == 0 then
        return -3
    end
    if redis.call("ZCARD", ARGV[6] .. group) == 0 then
        redis.call("SREM", KEYS[3], group)
    end
elseif state == "scheduled" or state == "retry" or state == "completed" then
    if redis.call("ZREM", ARGV[5] .. state, ARGV[1]) == 0 then
        return -3
    end
else
    return -3
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
-- Client::wait (redisq): when someone waits for this task, tell them. One ZSCORE when
-- nobody waits. The keys are derived from the task key `<ns>:{q}:t:<id>` (same hash tag).
local qprefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[1], 1, string.find(KEYS[1], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[1])
end
local old = redis.call("ZRANGE", KEYS[2], "-inf", ARGV[3], "BYSCORE")
for _, id in ipairs(old) do
    redis.call("DEL", ARGV[7] .. id)
end
if #old > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[3])
end
local excess = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
    for _, id in ipairs(redis.call("ZRANGE", KEYS[2], 0, excess - 1)) do
        redis.call("DEL", ARGV[7] .. id)
    end
    redis.call("ZREMRANGEBYRANK", KEYS[2], 0, excess - 1)
end
return 1
