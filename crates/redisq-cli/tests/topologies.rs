//! The `redisq` binary on other deployments and connection settings: a Redis Cluster
//! (`--cluster --cluster_addrs`), the `REDISQ_URL` environment variable, TLS (`rediss://`
//! with `--tls_ca`, and asynq's `--tls`) and a unix socket.

mod common;

use redisq::{Client, RedisClusterClientOpt, Task, TaskOption, parse_redis_uri};
use redisq_test_support::{RedisCluster, RedisServer, free_port};
use serde_json::json;

use common::{Cli, ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_asynq_flags() {
    let cluster = RedisCluster::start();
    let addrs = cluster.addrs();
    let client = Client::connect(RedisClusterClientOpt::new(addrs.clone()))
        .await
        .expect("cluster client");
    for (queue, n) in [("alpha", 2), ("beta", 1)] {
        for i in 0..n {
            client
                .enqueue_with(
                    &Task::new("job", format!("{queue}-{i}")),
                    [TaskOption::queue(queue)],
                )
                .await
                .expect("enqueue");
        }
    }
    let joined = addrs.join(",");
    let cli = Cli::with_args(&["--cluster", "--cluster_addrs", &joined]);

    let stats = cli.run(&["stats", "--json"]).await.ok().json();
    assert_eq!(stats["aggregate"]["pending"], 3);
    assert_eq!(stats["aggregate"]["queues"], 2);
    assert_eq!(stats["redis"]["mode"], "cluster");
    assert_eq!(stats["redis"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(stats["redis"]["cluster"]["state"], "ok");
    assert_eq!(stats["redis"]["cluster"]["slots_assigned"], 16384);
    cli.run(&["stats"])
        .await
        .ok()
        .has(&["alpha", "beta", "cluster: state ok", "Redis Info"]);

    assert_eq!(
        cli.run(&["queue", "ls", "--json"]).await.ok().json(),
        json!(["alpha", "beta"])
    );
    let q = cli
        .run(&["queue", "inspect", "alpha", "beta", "--json"])
        .await
        .ok()
        .json();
    assert_eq!((&q[0]["pending"], &q[1]["pending"]), (&json!(2), &json!(1)));
    let t = cli
        .run(&[
            "task", "enqueue", "-t", "job", "-l", "via-cli", "--queue", "beta", "--json",
        ])
        .await
        .ok()
        .json();
    let listed = cli
        .run(&["task", "ls", "-q", "beta", "-s", "pending", "--json"])
        .await
        .ok()
        .json();
    assert!(ids(&listed).contains(&t["id"].as_str().unwrap().to_string()));
    cli.run(&["task", "ls", "-q", "beta", "-s", "pending"])
        .await
        .ok()
        .has(&["via-cli", "beta-0"]);
    cli.run(&["queue", "pause", "alpha"]).await.ok();
    cli.run(&["queue", "unpause", "alpha"]).await.ok();
    cli.run(&["queue", "rm", "alpha", "--force"]).await.ok();
    assert_eq!(
        cli.run(&["queue", "ls", "--json"]).await.ok().json(),
        json!(["beta"])
    );
    cli.run(&["queue", "inspect", "alpha"])
        .await
        .fails_with(3, "queue \"alpha\" not found");
    // The flags also work after the command, and one seed node is enough.
    Cli::default()
        .run(&["queue", "ls", "--cluster", "--cluster_addrs", &addrs[1]])
        .await
        .ok()
        .has(&["beta"]);
    // A Cluster has only database 0, and -u does not go with --cluster.
    cli.run(&["-n", "1", "stats"])
        .await
        .fails_with(2, "database 0");
    cli.run(&["-u", &addrs[0], "stats"])
        .await
        .fails_with(2, "--cluster_addrs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redisq_url_environment_variable() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = Cli::default().env("REDISQ_URL", &url);
    env.run(&[
        "task", "enqueue", "-t", "from-env", "-l", "e", "--queue", "envq",
    ])
    .await
    .ok()
    .has(&["enqueued task"]);
    assert_eq!(
        env.run(&["queue", "ls", "--json"]).await.ok().json(),
        json!(["envq"])
    );
    env.run(&["task", "ls", "-q", "envq", "-s", "pending"])
        .await
        .ok()
        .has(&["from-env"]);
    let stats = env.run(&["stats", "--json"]).await.ok().json();
    assert_eq!(stats["aggregate"]["pending"], 1);

    // Flags on the command line win over the environment.
    let dead = format!("127.0.0.1:{}", free_port());
    env.run(&["-u", &dead, "queue", "ls"])
        .await
        .fails_with(4, "Connection refused");
    let other = RedisServer::start();
    assert_eq!(
        env.run(&["--redis", &other.url(), "queue", "ls", "--json"])
            .await
            .ok()
            .json(),
        json!([])
    );
    // The database number in the URL is honoured.
    assert_eq!(
        Cli::default()
            .env("REDISQ_URL", &format!("{url}/3"))
            .run(&["queue", "ls", "--json"])
            .await
            .ok()
            .json(),
        json!([])
    );
    // A bad URL in the environment is named as such.
    Cli::default()
        .env("REDISQ_URL", "http://nope")
        .run(&["queue", "ls"])
        .await
        .fails_with(2, "invalid REDISQ_URL URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_rediss_url_and_ca_file() {
    let redis = RedisServer::builder().tls(true).start();
    let url = redis.url();
    assert!(url.starts_with("rediss://localhost:"), "{url}");
    let ca = redis.dir().join("cli-ca.pem");
    std::fs::write(&ca, redis.tls_ca_pem().expect("CA")).expect("write the CA");
    let ca = ca.to_str().expect("utf-8 path").to_string();

    let cli = Cli::with_args(&["--redis", &url, "--tls_ca", &ca]);
    cli.run(&[
        "task", "enqueue", "-t", "secure", "-l", "s3cret", "--queue", "tlsq",
    ])
    .await
    .ok();
    let stats = cli.run(&["stats", "--json"]).await.ok().json();
    assert_eq!(stats["aggregate"]["pending"], 1);
    assert!(stats["redis_error"].is_null(), "{}", stats["redis_error"]);
    assert!(stats["redis"]["nodes"][0]["version"].is_string());
    cli.run(&["task", "ls", "-q", "tlsq", "-s", "pending"])
        .await
        .ok()
        .has(&["secure", "s3cret"]);

    // asynq's flags: --tls with -u, and the CA.
    let port = redis.port().to_string();
    let addr = format!("localhost:{port}");
    Cli::with_args(&[
        "-u",
        &addr,
        "--tls",
        "--tls_ca",
        &ca,
        "--tls_server",
        "localhost",
    ])
    .run(&["queue", "ls", "--json"])
    .await
    .ok();
    // Without the CA the certificate is not trusted: a connection error.
    Cli::url(&url)
        .run(&["queue", "ls"])
        .await
        .fails_with(4, "--tls_ca PEM_FILE");
    // --insecure skips verification.
    Cli::with_args(&["--redis", &url, "--insecure"])
        .run(&["queue", "ls", "--json"])
        .await
        .ok();
    // Plain TCP to a TLS-only port fails as a connection error too.
    Cli::url(&format!("redis://localhost:{port}"))
        .run(&["queue", "ls"])
        .await
        .fails(4);
    Cli::with_args(&["-u", &addr, "--tls", "--tls_server", "redis.example"])
        .run(&["queue", "ls"])
        .await
        .fails_with(2, "--tls_server");
    let not_pem = redis.dir().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    Cli::with_args(&["--redis", &url, "--tls_ca", not_pem.to_str().unwrap()])
        .run(&["queue", "ls"])
        .await
        .fails_with(2, "no PEM certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_url() {
    let redis = RedisServer::builder().unix_socket(true).start();
    let socket = redis.unix_socket_path().expect("socket");
    let url = format!("redis-socket://{}", socket.display());
    let client = Client::connect(parse_redis_uri(&url).expect("url"))
        .await
        .expect("client");
    client
        .enqueue_with(&Task::new("sock", "x"), [TaskOption::queue("sq")])
        .await
        .expect("enqueue");
    let cli = Cli::url(&url);
    assert_eq!(
        cli.run(&["queue", "ls", "--json"]).await.ok().json(),
        json!(["sq"])
    );
    let stats = cli.run(&["stats", "--json"]).await.ok().json();
    assert_eq!(
        stats["redis"]["nodes"][0]["node"],
        json!(socket.display().to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_url() {
    let group = redisq_test_support::RedisSentinelGroup::start();
    let url = format!(
        "redis-sentinel://{}?master={}",
        group.sentinel_addrs().join(","),
        group.master_name()
    );
    let cli = Cli::url(&url);
    cli.run(&["task", "enqueue", "-t", "via-sentinel", "--queue", "sq"])
        .await
        .ok();
    let stats = cli.run(&["stats", "--json"]).await.ok().json();
    assert_eq!(stats["aggregate"]["pending"], 1);
    assert_eq!(stats["redis"]["mode"], "sentinel");
    assert_eq!(stats["redis"]["nodes"][0]["role"], "master");
    cli.run(&["task", "ls", "-q", "sq", "-s", "pending"])
        .await
        .ok()
        .has(&["via-sentinel"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_acl_users() {
    let redis = RedisServer::builder()
        .password("s3cret")
        .acl_user("ops", "opspw")
        .start();
    let addr = redis.addr();
    Cli::with_args(&["-u", &addr, "-p", "s3cret"])
        .run(&["queue", "ls", "--json"])
        .await
        .ok();
    Cli::with_args(&["-u", &addr, "-U", "ops", "-p", "opspw", "-n", "2"])
        .run(&["task", "enqueue", "-t", "acl"])
        .await
        .ok();
    assert_eq!(
        Cli::url(&format!("redis://ops:opspw@{addr}/2"))
            .run(&["queue", "ls", "--json"])
            .await
            .ok()
            .json(),
        json!(["default"])
    );
    for args in [
        &["-u", addr.as_str()][..],
        &["-u", addr.as_str(), "-p", "wrong"],
        &["-u", addr.as_str(), "-U", "ops", "-p", "wrong"],
    ] {
        Cli::with_args(args)
            .run(&["queue", "ls"])
            .await
            .fails_with(4, "check the credentials");
    }
}
