-- Lists the live members of a server, workers or schedulers index and prunes stale ones,
-- like asynq does when listing.
-- KEYS[1] index zset (`<ns>:servers`, `<ns>:workers` or `<ns>:schedulers`), scored by expiry
-- ARGV[1] current time, unix seconds
-- Returns the members whose expiry is not before now; members that expired are removed.
local live = redis.call("ZRANGE", KEYS[1], ARGV[1], "+inf", "BYSCORE")
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
return live
