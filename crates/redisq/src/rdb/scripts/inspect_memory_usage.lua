-- Estimates the memory used by one queue, in bytes (Inspector queue_info), by sampling:
-- for each state container, the average `MEMORY USAGE` of the first ARGV[2] task hashes
-- times the number of tasks, plus the container itself; for the groups, the average of up to
-- ARGV[2] tasks of each of the first ARGV[3] groups times the number of aggregating tasks,
-- plus the sampled group zsets scaled to all groups.
-- KEYS[1] pending list
-- KEYS[2] active list
-- KEYS[3] scheduled zset
-- KEYS[4] retry zset
-- KEYS[5] archived zset
-- KEYS[6] completed zset
-- KEYS[7] groups set
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2] sample size per container (> 0)
-- ARGV[3] number of groups sampled
-- ARGV[4] group key prefix `<ns>:{q}:g:`
-- Derived keys carry the queue's hash tag. MEMORY USAGE of a missing key is nil, counted 0.
-- Fails when MEMORY USAGE is not available (the caller then reports no estimate).
local sample = tonumber(ARGV[2])
local function usage(key)
    local n = redis.call("MEMORY", "USAGE", key)
    if n then
        return n
    end
    return 0
end
local function sampled(ids, count)
    if #ids == 0 then
        return 0
    end
    local sum = 0
    for _, id in ipairs(ids) do
        sum = sum + usage(ARGV[1] .. id)
    end
    return sum / #ids * count
end
local total = 0
for i = 1, 2 do
    local ids = redis.call("LRANGE", KEYS[i], 0, sample - 1)
    total = total + sampled(ids, redis.call("LLEN", KEYS[i])) + usage(KEYS[i])
end
for i = 3, 6 do
    local ids = redis.call("ZRANGE", KEYS[i], 0, sample - 1)
    total = total + sampled(ids, redis.call("ZCARD", KEYS[i])) + usage(KEYS[i])
end
local groups = redis.call("SMEMBERS", KEYS[7])
if #groups > 0 then
    local tasks = 0
    for _, g in ipairs(groups) do
        tasks = tasks + redis.call("ZCARD", ARGV[4] .. g)
    end
    local ids = {}
    local zsets = 0
    local seen = 0
    for i = 1, math.min(#groups, tonumber(ARGV[3])) do
        local key = ARGV[4] .. groups[i]
        zsets = zsets + usage(key)
        seen = seen + 1
        for _, id in ipairs(redis.call("ZRANGE", key, 0, sample - 1)) do
            ids[#ids + 1] = id
        end
    end
    total = total + sampled(ids, tasks) + zsets / seen * #groups + usage(KEYS[7])
end
return math.floor(total)
