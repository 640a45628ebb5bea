-- Wakes one idle redisq server of a queue when it has pending tasks: the wake list keeps at
-- most one marker, and one server blocked on it (BLPOP) takes it. Used to hand a wake-up on
-- (a busy server took it, or a woken server found more work than it could take) and after a
-- queue is unpaused.
-- KEYS[1] pending list
-- KEYS[2] wake list
-- Returns 1 when a marker was pushed.
if redis.call("LLEN", KEYS[1]) > 0 and redis.call("LLEN", KEYS[2]) == 0 then
    redis.call("RPUSH", KEYS[2], "1")
    return 1
end
return 0
