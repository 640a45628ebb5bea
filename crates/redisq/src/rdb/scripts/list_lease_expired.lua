-- Lists active tasks whose lease expired.
-- KEYS[1] lease zset
-- ARGV[1] cutoff, unix seconds (expired when score <= it)
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it and carry the
--         queue's hash tag, so they live in the slot of KEYS[1]
-- Returns a flat array {id1, msg1, id2, msg2, ...}; IDs without a task hash are skipped.
local ids = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE")
local out = {}
for _, id in ipairs(ids) do
    local msg = redis.call("HGET", ARGV[2] .. id, "msg")
    if msg then
        out[#out + 1] = id
        out[#out + 1] = msg
    end
end
return out
