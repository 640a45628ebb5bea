-- The groups of one queue and their sizes (Inspector groups).
-- KEYS[1] groups set
-- ARGV[1] group key prefix `<ns>:{q}:g:` (derived keys carry the queue's hash tag)
-- Returns {name1, size1, name2, size2, ...}.
local out = {}
for _, g in ipairs(redis.call("SMEMBERS", KEYS[1])) do
    out[#out + 1] = g
    out[#out + 1] = redis.call("ZCARD", ARGV[1] .. g)
end
return out
