-- Takes up to ARGV[3] of the oldest pending tasks of a queue and leases each one, in one
-- atomic step (decision D12: a task is never active without a lease). take.lua is prepended.
-- KEYS[1] pending list
-- KEYS[2] paused flag
-- KEYS[3] active list
-- KEYS[4] lease zset
-- ARGV[1] lease duration, whole seconds: each lease runs until Redis's TIME plus this (the
--         score, unix seconds), so every server agrees on it whatever its own clock says
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it, so they carry
--         the queue's hash tag and live in the slot of KEYS[1..4]
-- ARGV[3] how many tasks to take at most
-- Returns {id1, msg1, id2, msg2, ...}; empty when the queue is paused or empty.
if redis.call("EXISTS", KEYS[2]) == 1 then
    return {}
end
return take_pending(KEYS[1], KEYS[3], KEYS[4], ARGV[2], ARGV[1], tonumber(ARGV[3]))
