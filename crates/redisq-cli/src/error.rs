//! Errors of the command line and the exit codes scripts rely on.
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure not covered below (unexpected Redis reply, corrupt data, I/O) |
//! | 2 | usage error: unknown command or flag, invalid value (state, duration, time, URL), conflicting flags (clap's own code for its errors) |
//! | 3 | not found: unknown queue, task or scheduler entry |
//! | 4 | Redis unreachable or unusable: connection refused or lost, timeout, TLS or authentication failure, Redis older than 6.2 |
//! | 5 | refused: the operation does not apply in the current state (queue not empty, task active or already pending, queue already paused or not paused, duplicate task or task ID) |
//!
//! Every error is printed to stderr as one line, `error: <what happened>; <what to do>`.

use std::fmt;

/// The exit codes, documented in `redisq --help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: anything not covered by the other codes.
    Failure = 1,
    /// 2: invalid command line.
    Usage = 2,
    /// 3: unknown queue, task or scheduler entry.
    NotFound = 3,
    /// 4: Redis cannot be reached or used.
    Connection = 4,
    /// 5: the operation was refused in the current state.
    Refused = 5,
}

/// The text appended to `redisq --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  failure not covered below (unexpected Redis reply, corrupt data, I/O error)
  2  usage error: unknown command or flag, invalid value (state, duration, time, URL),
     conflicting flags
  3  not found: unknown queue, task or scheduler entry
  4  Redis unreachable or unusable: connection refused or lost, timeout, TLS or
     authentication failure, Redis older than 6.2
  5  refused: the operation does not apply in the current state (queue not empty, task
     active or already pending, queue already paused / not paused, duplicate task)

Errors are printed to stderr, one line each. Read commands take --json for output that
scripts can parse (see `redisq help <command>`).

Connection: --redis URL or the REDISQ_URL environment variable (redis://, rediss://,
redis-socket://, redis-sentinel://), or asynq's flags -u/--uri host:port (default
127.0.0.1:6379), -n/--db, -p/--password, -U/--username, --cluster --cluster_addrs,
--tls, --tls_server, --insecure, --tls_ca.";

/// A failed command: what to print and how to exit. An empty message means the failure was
/// already reported on stderr (see `cmd::Outcome`), so only the exit code is left to apply.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

/// `Result` with [`CliError`].
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        CliError::new(Exit::NotFound, message)
    }

    pub(crate) fn failure(message: impl Into<String>) -> Self {
        CliError::new(Exit::Failure, message)
    }

    /// The process exit code.
    pub(crate) fn code(&self) -> u8 {
        self.exit as u8
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What an operation was about, to turn a library error into a message with a next step.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject<'a> {
    /// Nothing in particular.
    None,
    /// A queue.
    Queue(&'a str),
    /// A task of a queue.
    Task {
        /// The queue.
        queue: &'a str,
        /// The task ID.
        id: &'a str,
    },
}

/// Maps a library error to an exit code and a one-line message. `doing` says what failed,
/// e.g. `could not pause queue "q"`.
pub(crate) fn from_redisq(err: &redisq::Error, doing: &str, subject: Subject<'_>) -> CliError {
    let text = one_line(&err.to_string());
    if err.is_queue_not_found() {
        let queue = match subject {
            Subject::Queue(q) | Subject::Task { queue: q, .. } => q,
            Subject::None => "",
        };
        return CliError::not_found(format!(
            "queue {queue:?} not found; list queues with `redisq queue ls`"
        ));
    }
    if err.is_task_not_found() {
        return match subject {
            Subject::Task { queue, id } => CliError::not_found(format!(
                "task {id:?} not found in queue {queue:?}; list tasks with \
                 `redisq task ls -q {} -s <state>`",
                shell_word(queue)
            )),
            _ => CliError::not_found(format!("{doing}: {text}")),
        };
    }
    if err.is_queue_not_empty() {
        let queue = match subject {
            Subject::Queue(q) => q,
            _ => "",
        };
        return CliError::new(
            Exit::Refused,
            format!(
                "{doing}: queue {queue:?} is not empty; add --force to delete it with all its \
                 tasks"
            ),
        );
    }
    if err.is_failed_precondition() {
        return CliError::new(Exit::Refused, format!("{doing}: {text}"));
    }
    if err.is_duplicate_task() {
        return CliError::new(
            Exit::Refused,
            format!("{doing}: {text} (an equal unique task is still locked)"),
        );
    }
    if err.is_task_id_conflict() {
        return CliError::new(
            Exit::Refused,
            format!("{doing}: {text}; choose another --id"),
        );
    }
    if err.is_invalid_option() || err.is_invalid_uri() {
        return CliError::usage(format!("{doing}: {text}"));
    }
    if err.is_connection() || err.is_timeout() || err.is_unsupported_server() {
        return CliError::new(
            Exit::Connection,
            format!("{doing}: {text}; check that Redis is running and reachable"),
        );
    }
    CliError::failure(format!("{doing}: {text}"))
}

/// Collapses line breaks so every error stays on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value quoted for a shell command suggestion when it needs quoting.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@%+=,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b\r\n\nc"), "a b c");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("default"), "default");
        assert_eq!(shell_word("my queue"), "'my queue'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
