-- Deletes one task and releases the unique lock it owns (Inspector delete_task).
-- KEYS[1] task hash
-- KEYS[2] groups set
-- KEYS[3] pending list
-- ARGV[1] task id
-- ARGV[2] queue key prefix `<ns>:{q}:` (state zsets and the lock are derived from it)
-- ARGV[3] group key prefix `<ns>:{q}:g:`
-- Derived keys carry the queue's hash tag, so they live in the slot of KEYS[1..3]. A lock
-- recorded under another prefix is left to expire (it could be in another Cluster slot).
-- Returns 1 when deleted, 0 when the task does not exist, -1 when it is active, -2 when it is
-- a waiting flow parent (deleted with its flow by flow_delete.lua instead).
-- The lock is found through the hash field unique_key, which redisq also records for grouped
-- tasks (decision D4); it is released only while it still holds this task's ID.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return 0
end
if state == "active" then
    return -1
end
if state == "waiting" then
    return -2
end
if state == "pending" then
    if redis.call("LREM", KEYS[3], 0, ARGV[1]) == 0 then
        -- Held back by a limit (limits.lua): it is in its type's held list.
        for _, ty in ipairs(redis.call("SMEMBERS", ARGV[2] .. "redisq:held")) do
            local hk = ARGV[2] .. "redisq:held:t:" .. ty
            if redis.call("LREM", hk, 0, ARGV[1]) > 0 then
                if redis.call("EXISTS", hk) == 0 then
                    redis.call("SREM", ARGV[2] .. "redisq:held", ty)
                end
                break
            end
        end
    end
elseif state == "aggregating" then
    local group = redis.call("HGET", KEYS[1], "group")
    if group then
        redis.call("ZREM", ARGV[3] .. group, ARGV[1])
        if redis.call("ZCARD", ARGV[3] .. group) == 0 then
            redis.call("SREM", KEYS[2], group)
        end
    end
elseif state == "scheduled" or state == "retry" or state == "archived" or state == "completed" then
    redis.call("ZREM", ARGV[2] .. state, ARGV[1])
end
local lock = redis.call("HGET", KEYS[1], "unique_key")
if lock and string.sub(lock, 1, #ARGV[2]) == ARGV[2] and redis.call("GET", lock) == ARGV[1] then
    redis.call("DEL", lock)
end
-- Client::wait (redisq): when someone waits for this task, tell them it is gone. One ZSCORE when
-- nobody waits. The keys are derived from the task key `<ns>:{q}:t:<id>` (same hash tag).
local qprefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 2)
if redis.call("ZSCORE", qprefix .. "redisq:waiters", ARGV[1]) then
    redis.call("ZREM", qprefix .. "redisq:waiters", ARGV[1])
    local ns = string.sub(KEYS[1], 1, string.find(KEYS[1], ":{", 1, true) - 1)
    redis.call("PUBLISH", ns .. ":redisq:finished", KEYS[1])
end
redis.call("DEL", KEYS[1])
return 1
