-- Current counts and counters of one queue (Inspector queue_info).
-- KEYS[1] pending list
-- KEYS[2] active list
-- KEYS[3] scheduled zset
-- KEYS[4] retry zset
-- KEYS[5] archived zset
-- KEYS[6] completed zset
-- KEYS[7] daily processed counter of today `processed:<YYYY-MM-DD>`
-- KEYS[8] daily failed counter of today `failed:<YYYY-MM-DD>`
-- KEYS[9] total processed counter
-- KEYS[10] total failed counter
-- KEYS[11] paused flag
-- KEYS[12] groups set
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2] group key prefix `<ns>:{q}:g:`
-- Task hashes and group zsets are derived from the prefixes, which carry the queue's hash tag.
-- Returns {pending, active, scheduled, retry, archived, completed, processed today,
-- failed today, processed total, failed total, paused (0|1), oldest pending_since (unix ns
-- as a string, "0" when unknown), number of groups, number of aggregating tasks}.
-- Counters and pending_since are returned as strings: they may not fit a Lua number exactly.
-- Tasks held back by a limit (`<ns>:{q}:redisq:held:t:<type>`, see limits.lua) are pending
-- too: they are counted, and being older than the pending list, the oldest may be one.
local qp = string.sub(ARGV[1], 1, #ARGV[1] - 2)
local held = 0
local oldest_held = nil
for _, ty in ipairs(redis.call("SMEMBERS", qp .. "redisq:held")) do
    local hk = qp .. "redisq:held:t:" .. ty
    held = held + redis.call("LLEN", hk)
    local hid = redis.call("LINDEX", hk, -1)
    local since = hid and redis.call("HGET", ARGV[1] .. hid, "pending_since")
    if since and (not oldest_held or tonumber(since) < tonumber(oldest_held)) then
        oldest_held = since
    end
end
local out = {
    redis.call("LLEN", KEYS[1]) + held,
    redis.call("LLEN", KEYS[2]),
    redis.call("ZCARD", KEYS[3]),
    redis.call("ZCARD", KEYS[4]),
    redis.call("ZCARD", KEYS[5]),
    redis.call("ZCARD", KEYS[6]),
}
for i = 7, 10 do
    out[#out + 1] = redis.call("GET", KEYS[i]) or "0"
end
out[#out + 1] = redis.call("EXISTS", KEYS[11])
-- The oldest pending task is the right-most element (dequeue pops from the right).
local oldest = "0"
local id = redis.call("LINDEX", KEYS[1], -1)
if id then
    oldest = redis.call("HGET", ARGV[1] .. id, "pending_since") or "0"
end
if oldest_held and (oldest == "0" or tonumber(oldest_held) < tonumber(oldest)) then
    oldest = oldest_held
end
out[#out + 1] = oldest
local groups = redis.call("SMEMBERS", KEYS[12])
local aggregating = 0
for _, g in ipairs(groups) do
    aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. g)
end
out[#out + 1] = #groups
out[#out + 1] = aggregating
return out
