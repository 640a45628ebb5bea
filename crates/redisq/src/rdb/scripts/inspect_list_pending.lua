-- One page of the pending tasks of a queue, including the tasks held back by a limit
-- (limits.lua), which are pending too (Inspector list_pending_tasks).
-- KEYS[1] pending list
-- KEYS[2] held-types set `<ns>:{q}:redisq:held`
-- ARGV[1] first index of the page, oldest first (0-based)
-- ARGV[2] last index of the page
-- ARGV[3] task key prefix `<ns>:{q}:t:` (task hashes and held lists carry the queue's tag)
-- The pending tasks in order, oldest first: the held tasks (older than anything still in the
-- pending list; type by type, in type order), then the pending list from its right end.
-- Returns {id, msg, result, false, false, ...} newest first, like inspect_list_list.lua
-- (pending tasks have no lease and no progress).
local qp = string.sub(ARGV[3], 1, #ARGV[3] - 2)
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
local lists = {}
local types = redis.call("SMEMBERS", KEYS[2])
table.sort(types)
for _, ty in ipairs(types) do
    lists[#lists + 1] = qp .. "redisq:held:t:" .. ty
end
lists[#lists + 1] = KEYS[1]
local ids = {}
local offset = 0
for _, key in ipairs(lists) do
    if offset > last then
        break
    end
    local len = redis.call("LLEN", key)
    -- Indices [offset, offset + len) of the virtual list live in this one, oldest at -1.
    local lo, hi = math.max(first, offset), math.min(last, offset + len - 1)
    if lo <= hi then
        local page = redis.call("LRANGE", key, -(hi - offset) - 1, -(lo - offset) - 1)
        for i = #page, 1, -1 do
            ids[#ids + 1] = page[i]
        end
    end
    offset = offset + len
end
local out = {}
for i = #ids, 1, -1 do
    local id = ids[i]
    local fields = redis.call("HMGET", ARGV[3] .. id, "msg", "result")
    out[#out + 1] = id
    out[#out + 1] = fields[1] or false
    out[#out + 1] = fields[2] or false
    out[#out + 1] = false
    out[#out + 1] = false
end
return out
