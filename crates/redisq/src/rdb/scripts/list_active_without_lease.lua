-- Lists active tasks that have no lease entry (decision D5).
-- KEYS[1] active list
-- KEYS[2] lease zset
-- Returns the IDs, each once, in list order.
local ids = redis.call("LRANGE", KEYS[1], 0, -1)
local seen = {}
local out = {}
for _, id in ipairs(ids) do
    if not seen[id] then
        seen[id] = true
        if not redis.call("ZSCORE", KEYS[2], id) then
            out[#out + 1] = id
        end
    end
end
return out
