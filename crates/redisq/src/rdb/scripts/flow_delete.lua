-- Deletes a waiting flow parent and its flow hash (Inspector delete_flow), and names the
-- children that had not finished, for the caller to delete in their own slots.
-- KEYS[1] task hash
-- KEYS[2] waiting zset
-- KEYS[3] flow hash
-- ARGV[1] task id
-- Returns {1, q1, id1, q2, id2, ...} when deleted, {0} when the task does not exist (a
-- leftover flow hash is removed), {-1} when the task exists but is not waiting.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    redis.call("ZREM", KEYS[2], ARGV[1])
    redis.call("DEL", KEYS[3])
    return {0}
end
if state ~= "waiting" then
    return {-1}
end
local out = {1}
local n = tonumber(redis.call("HGET", KEYS[3], "children") or "0")
for i = 0, n - 1 do
    local f = redis.call("HMGET", KEYS[3], "s:" .. i, "q:" .. i, "i:" .. i)
    if f[1] == "w" and f[2] and f[3] then
        out[#out + 1] = f[2]
        out[#out + 1] = f[3]
    end
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("DEL", KEYS[1], KEYS[3])
return out
