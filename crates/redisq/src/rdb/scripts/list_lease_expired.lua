-- Lists active tasks whose lease expired.
-- KEYS[1] lease zset
-- ARGV[1] grace, whole seconds: the cutoff is Redis's TIME minus this (expired when score
--         <= it); leases are written from Redis's TIME as well, so a server whose own clock
--         runs ahead does not take tasks from live workers
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it and carry the
--         queue's hash tag, so they live in the slot of KEYS[1]
-- Returns a flat array {cutoff, id1, msg1, id2, msg2, ...} (the cutoff as a string, for the
-- retry/archive guard and remove_ghosts.lua); IDs without a task hash are skipped.
local cutoff = tonumber(redis.call("TIME")[1]) - tonumber(ARGV[1])
local ids = redis.call("ZRANGE", KEYS[1], "-inf", cutoff, "BYSCORE")
local out = {tostring(cutoff)}
for _, id in ipairs(ids) do
    local msg = redis.call("HGET", ARGV[2] .. id, "msg")
    if msg then
        out[#out + 1] = id
        out[#out + 1] = msg
    end
end
return out
