-- Deletes a queue, a batch at a time (Inspector delete_queue, decision D8: everything of
-- the queue goes). The caller repeats the call until it reports done, then deletes the daily
-- counters and removes the queue from `<ns>:queues`.
-- KEYS[1] pending list
-- KEYS[2] active list
-- KEYS[3] scheduled zset
-- KEYS[4] retry zset
-- KEYS[5] archived zset
-- KEYS[6] completed zset
-- KEYS[7] lease zset
-- KEYS[8] groups set
-- KEYS[9] aggregation_sets zset
-- KEYS[10] paused flag
-- KEYS[11] total processed counter
-- KEYS[12] total failed counter
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2] queue key prefix `<ns>:{q}:`
-- ARGV[3] group key prefix `<ns>:{q}:g:`
-- ARGV[4] maximum number of IDs handled by this call
-- ARGV[5] check made before anything is deleted: "empty" (refuse when the queue holds a task
--         in any state), "active" (refuse when a task is active) or "none"
-- Derived keys carry the queue's hash tag, so they live in the slot of KEYS[1..12]; a lock
-- or aggregation set recorded under another prefix is not touched (only forgotten).
-- Returns -1 when the queue is not empty, -2 when it has active tasks, else {deleted, done}:
-- deleted counts the task hashes deleted by this call, done is 1 once nothing is left.
local prefix = ARGV[2]
local function ours(key)
    return string.sub(key, 1, #prefix) == prefix
end
if ARGV[5] == "empty" then
    for i = 1, 6 do
        if redis.call("EXISTS", KEYS[i]) == 1 then
            return -1
        end
    end
    if redis.call("EXISTS", KEYS[8]) == 1 or redis.call("EXISTS", KEYS[9]) == 1 then
        return -1
    end
    if redis.call("EXISTS", prefix .. "redisq:held") == 1 then
        return -1
    end
elseif ARGV[5] == "active" then
    if redis.call("EXISTS", KEYS[2]) == 1 then
        return -2
    end
end
local budget = tonumber(ARGV[4])
local deleted = 0
local function drop(id)
    local key = ARGV[1] .. id
    local lock = redis.call("HGET", key, "unique_key")
    if lock and ours(lock) and redis.call("GET", lock) == id then
        redis.call("DEL", lock)
    end
    deleted = deleted + redis.call("DEL", key)
end
local function drain_list(key)
    if budget <= 0 then
        return
    end
    local ids = redis.call("LPOP", key, budget) or {}
    for _, id in ipairs(ids) do
        drop(id)
    end
    budget = budget - #ids
end
local function drain_zset(key)
    if budget <= 0 then
        return
    end
    local ids = redis.call("ZRANGE", key, 0, budget - 1)
    for _, id in ipairs(ids) do
        drop(id)
    end
    if #ids > 0 then
        redis.call("ZREMRANGEBYRANK", key, 0, #ids - 1)
    end
    budget = budget - #ids
end
drain_list(KEYS[1])
-- Tasks held back by a limit (limits.lua) are pending tasks too.
while budget > 0 do
    local ty = redis.call("SRANDMEMBER", prefix .. "redisq:held")
    if not ty then
        break
    end
    local hk = prefix .. "redisq:held:t:" .. ty
    drain_list(hk)
    if redis.call("EXISTS", hk) == 0 then
        redis.call("SREM", prefix .. "redisq:held", ty)
    end
end
drain_list(KEYS[2])
for i = 3, 6 do
    drain_zset(KEYS[i])
end
while budget > 0 do
    local group = redis.call("SRANDMEMBER", KEYS[8])
    if not group then
        break
    end
    local key = ARGV[3] .. group
    drain_zset(key)
    if redis.call("EXISTS", key) == 0 then
        redis.call("SREM", KEYS[8], group)
    end
end
while budget > 0 do
    local sets = redis.call("ZRANGE", KEYS[9], 0, 0)
    if #sets == 0 then
        break
    end
    local set = sets[1]
    if ours(set) then
        drain_zset(set)
        if redis.call("EXISTS", set) == 0 then
            redis.call("ZREM", KEYS[9], set)
        end
    else
        redis.call("ZREM", KEYS[9], set)
    end
end
if budget > 0 then
    local n = redis.call("ZCARD", KEYS[7])
    if n > 0 then
        redis.call("ZREMRANGEBYRANK", KEYS[7], 0, budget - 1)
        budget = budget - n
    end
end
if budget <= 0 then
    return {deleted, 0}
end
redis.call("DEL", KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12])
-- redisq's wake list (see keys.rs), derived from the queue prefix.
redis.call("DEL", prefix .. "redisq:wake")
-- The queue's rate limiter state (limits.lua); per-type state expires or empties by itself.
redis.call("DEL", prefix .. "redisq:rate:q", prefix .. "redisq:ratelog:q")
return {deleted, 1}
