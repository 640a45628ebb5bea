//! What every example needs: a Redis to talk to. `REDISQ_URL` names one; without it a private
//! `redis-server` is started for the example's lifetime (Debian/Ubuntu: `apt-get install
//! redis-server`).

use redisq::{Connection, Namespace, RedisConnOpt, parse_redis_uri};
use redisq_test_support::{RedisServer, redis_server_available};

/// A Redis for the example: the one `REDISQ_URL` names, or a private one that lives as long
/// as the returned guard.
pub(crate) fn redis() -> (Option<RedisServer>, RedisConnOpt) {
    if let Ok(url) = std::env::var("REDISQ_URL") {
        println!("using Redis at {url}");
        match parse_redis_uri(&url) {
            Ok(opt) => return (None, opt),
            Err(e) => {
                eprintln!("REDISQ_URL is not a Redis URI: {e}");
                std::process::exit(2);
            }
        }
    }
    if !redis_server_available() {
        eprintln!(
            "redis-server was not found: install it (Debian/Ubuntu: apt-get install redis-server) \
             or set REDISQ_URL=redis://host:port"
        );
        std::process::exit(2);
    }
    let server = RedisServer::start();
    println!("started a private redis-server on {}", server.addr());
    let opt = parse_redis_uri(&server.url()).expect("the fixture's URL parses");
    (Some(server), opt)
}

/// What the examples share: a Redis, one connection to it for every part, and the key
/// namespace they write under (so they never touch another application's queues).
pub(crate) struct Setup {
    /// Keeps a private Redis alive; `None` with `REDISQ_URL`.
    pub(crate) _redis: Option<RedisServer>,
    pub(crate) conn: Connection,
    pub(crate) namespace: Namespace,
}

/// Connects as [`redis`] describes.
pub(crate) async fn setup() -> Result<Setup, redisq::Error> {
    let (redis, opt) = redis();
    Ok(Setup {
        _redis: redis,
        conn: Connection::connect(opt).await?,
        namespace: Namespace::new("redisq-examples")?,
    })
}
