//! Helpers for the CLI tests: run the real `redisq` binary and check what it printed.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// How to invoke the binary: connection arguments placed before every command, and extra
/// environment variables. `REDISQ_URL` is removed from the environment unless set here, so
/// the developer's own setting never leaks into a test.
#[derive(Clone, Debug, Default)]
pub struct Cli {
    base: Vec<String>,
    env: Vec<(String, String)>,
}

/// What one run printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    /// Connects with `--redis URL`.
    pub fn url(url: &str) -> Cli {
        Cli::with_args(&["--redis", url])
    }

    /// Puts these arguments before every command.
    pub fn with_args(base: &[&str]) -> Cli {
        Cli {
            base: base.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `redisq <base> <args>` on a blocking thread and waits for it.
    pub async fn run(&self, args: &[&str]) -> Out {
        let mut all = self.base.clone();
        all.extend(args.iter().map(|s| s.to_string()));
        let env = self.env.clone();
        tokio::task::spawn_blocking(move || run_blocking(&all, &env))
            .await
            .expect("the runner thread")
    }
}

fn run_blocking(args: &[String], env: &[(String, String)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redisq"));
    cmd.args(args)
        .env_remove("REDISQ_URL")
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("the redisq binary runs");
    Out {
        args: args.to_vec(),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Out {
    /// Asserts exit code 0 and an empty stderr.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(
            self.code == 0 && self.stderr.is_empty(),
            "redisq {:?} exited {} \nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts this exit code and a non-empty stderr.
    #[track_caller]
    pub fn fails(self, code: i32) -> Out {
        assert!(
            self.code == code && !self.stderr.trim().is_empty(),
            "redisq {:?}: expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts this exit code, and that stderr is one `error: …` line containing `text`.
    #[track_caller]
    pub fn fails_with(self, code: i32, text: &str) -> Out {
        let out = self.fails(code);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error: ") && lines[0].contains(text),
            "redisq {:?}: expected one error line containing {text:?}, got:\n{}",
            out.args,
            out.stderr
        );
        out
    }

    /// Asserts stdout contains every one of `texts`.
    #[track_caller]
    pub fn has(self, texts: &[&str]) -> Out {
        for t in texts {
            assert!(
                self.stdout.contains(t),
                "redisq {:?}: stdout lacks {t:?}:\n{}",
                self.args,
                self.stdout
            );
        }
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "redisq {:?}: stdout is not JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }
}

/// Polls `cond` every 50 ms until it holds; fails after 30 s.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The IDs of a JSON array of tasks.
pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Standard base64 (the test crate has no base64 dependency).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
