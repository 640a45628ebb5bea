-- Lists a queue's groups with the number of tasks waiting in each.
-- KEYS[1] groups set
-- ARGV[1] group key prefix `<ns>:{q}:g:`
-- Group keys are derived from ARGV[1], which carries the queue's hash tag.
-- Returns {group1, size1, group2, size2, ...}; empty groups are left out.
local out = {}
for _, g in ipairs(redis.call("SMEMBERS", KEYS[1])) do
    local n = redis.call("ZCARD", ARGV[1] .. g)
    if n > 0 then
        table.insert(out, g)
        table.insert(out, n)
    end
end
return out
