-- Moves due tasks of a scheduled or retry set to pending, or into their aggregation group.
-- KEYS[1] source zset (scheduled or retry)
-- KEYS[2] pending list
-- KEYS[3] groups set
-- KEYS[4] wake list of the queue
-- ARGV[1] current time, unix seconds (due when score <= it; also the group score); empty:
--         Redis's TIME, the clock every server shares (servers pass empty; tests a fixed time)
-- ARGV[2] task key prefix `<ns>:{q}:t:`
-- ARGV[3] current time, unix nanoseconds (pending_since); empty with ARGV[1]
-- ARGV[4] group key prefix `<ns>:{q}:g:`
-- ARGV[5] maximum number of tasks handled by this call
-- Task hashes and group zsets are derived from ARGV[2] and ARGV[4]; both prefixes carry the
-- queue's hash tag, so those keys live in the slot of KEYS[1..4].
-- Returns {handled, moved, next, now_ms}: handled counts the due IDs taken from the source
-- (call again while it equals ARGV[5]); moved leaves out IDs dropped because their task hash
-- is gone; next is the earliest remaining score (unix s), or -1 when the source is empty;
-- now_ms is the time used, unix ms (the caller's estimate of Redis's clock).
-- When a task went to pending, one idle redisq server is woken through KEYS[4].
-- Decision D3: a task with a group goes to its group, and the group is registered in
-- KEYS[3] (asynq forgets that SADD).
local now_s, now_ns, now_ms = ARGV[1], ARGV[3], tonumber(ARGV[1]) and tonumber(ARGV[1]) * 1000
if now_s == "" then
    local t = redis.call("TIME")
    local us = tonumber(t[2])
    now_s = t[1]
    -- Built as a string: unix nanoseconds do not fit a Lua number exactly.
    now_ns = t[1] .. string.format("%06d", us) .. "000"
    now_ms = tonumber(t[1]) * 1000 + math.floor(us / 1000)
end
local ids = redis.call("ZRANGE", KEYS[1], "-inf", now_s, "BYSCORE", "LIMIT", 0, ARGV[5])
local moved = 0
local to_pending = 0
for _, id in ipairs(ids) do
    local key = ARGV[2] .. id
    redis.call("ZREM", KEYS[1], id)
    if redis.call("EXISTS", key) == 1 then
        local group = redis.call("HGET", key, "group")
        if group and group ~= "" then
            redis.call("ZADD", ARGV[4] .. group, now_s, id)
            redis.call("SADD", KEYS[3], group)
            redis.call("HSET", key, "state", "aggregating")
        else
            redis.call("LPUSH", KEYS[2], id)
            redis.call("HSET", key, "state", "pending", "pending_since", now_ns)
            to_pending = to_pending + 1
        end
        moved = moved + 1
    end
end
if to_pending > 0 then
    -- Wake one idle server: at most one marker waits in the wake list.
    if redis.call("LLEN", KEYS[4]) == 0 then
        redis.call("RPUSH", KEYS[4], "1")
    end
end
local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
local next_due = -1
if first[2] then
    next_due = math.floor(tonumber(first[2]))
end
return {#ids, moved, next_due, now_ms}
