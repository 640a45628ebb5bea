-- Deletes completed tasks whose retention ended (janitor).
-- KEYS[1] completed zset
-- ARGV[1] current time, unix seconds (expired when score <= it)
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it and carry the
--         queue's hash tag, so they live in the slot of KEYS[1]
-- ARGV[3] maximum number of tasks deleted by this call
-- Returns how many were deleted (call again while it equals ARGV[3]).
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE", "LIMIT", 0, ARGV[3])
for _, id in ipairs(ids) do
    redis.call("DEL", ARGV[2] .. id)
    redis.call("ZREM", KEYS[1], id)
end
return #ids
