//! `redisq web` as a process: it prints its URL, answers with the guard in front (token,
//! read-only), and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use redisq_test_support::{RedisServer, free_port};

/// One HTTP/1.1 request; returns the status line and the whole answer.
fn http(addr: &str, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    (out.lines().next().unwrap_or("").to_string(), out)
}

#[test]
fn serves_the_dashboard_behind_its_guard_and_stops_on_sigterm() {
    let redis = RedisServer::builder().password("pw-never-shown").start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_redisq"))
        .args([
            "--redis",
            &redis.url(),
            "web",
            "--listen",
            &addr,
            "--read-only",
        ])
        .args([
            "--base-path",
            "/redisq",
            "--auth-token-env",
            "WEB_TEST_TOKEN",
        ])
        .env("WEB_TEST_TOKEN", "tok-1")
        .env_remove("REDISQ_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the URL line");
    assert_eq!(
        line.trim(),
        format!("redisq web: http://{addr}/redisq (Ctrl-C to stop)")
    );
    assert!(!line.contains("pw-never-shown") && !line.contains("tok-1"));

    let host = format!("Host: {addr}\r\nConnection: close\r\n");
    let (status, _) = http(&addr, &format!("GET /redisq HTTP/1.1\r\n{host}\r\n"));
    assert!(status.contains("401"), "{status}");
    let (status, body) = http(
        &addr,
        &format!("GET /redisq HTTP/1.1\r\n{host}Authorization: Bearer tok-1\r\n\r\n"),
    );
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("<h1>Queues</h1>") && body.contains("read-only"));
    assert!(!body.contains("pw-never-shown"));
    let (status, _) = http(
        &addr,
        &format!(
            "POST /redisq/queues/default/pause HTTP/1.1\r\n{host}Authorization: Bearer tok-1\r\n\
             Content-Length: 0\r\n\r\n"
        ),
    );
    assert!(status.contains("403"), "read-only: {status}");
    let (status, _) = http(&addr, &format!("GET / HTTP/1.1\r\n{host}\r\n"));
    assert!(status.contains("303"), "/ leads to the base path: {status}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"));
}

#[test]
fn a_missing_token_variable_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_redisq"))
        .args(["web", "--auth-token-env", "WEB_TEST_SURELY_UNSET"])
        .env_remove("WEB_TEST_SURELY_UNSET")
        .env_remove("REDISQ_URL")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEB_TEST_SURELY_UNSET"));
}
