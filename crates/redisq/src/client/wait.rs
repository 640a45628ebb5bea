//! `Client::wait`: waiting for a task to finish, woken by a Redis pub/sub notification.
//!
//! One subscriber per client (the *hub*) listens on `<ns>:redisq:finished` and fans the
//! messages out to every waiting call of the client over a broadcast channel. It is started
//! by the first wait, and closes its connection after [`IDLE`] without waiters. A waiter
//! subscribes to the hub before it registers in Redis (`Rdb::wait_check`), so a completion
//! can never slip between the two. Each waiter also reads the task again every
//! [`RECHECK_EVERY`], which renews its registration and catches what no notification
//! reports: tasks finished by Go asynq servers, bulk deletes, messages lost while the hub
//! reconnected.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::Client;
use crate::core::names::QueueName;
use crate::core::time::add_saturating;
use crate::error::{Error, Kind, Result};
use crate::info::task_info_of;
use crate::rdb::Rdb;
use crate::rdb::inspect::records::TaskRecord;
use crate::rdb::wait::WaitCheck;
use crate::task::{TaskInfo, TaskState};

/// How often a waiter reads its task again without a notification.
const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// How long a registration lasts unless renewed (by the next re-check): a crashed waiter's
/// registration lapses after this, so completions stop publishing for it.
const REGISTRATION: Duration = Duration::from_secs(30);
/// The hub PINGs its connection this often and gives the answer this long: a half-open
/// connection delivers nothing and reports no error.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait before subscribing again after a failed attempt.
const RETRY: Duration = Duration::from_secs(1);
/// The hub closes its connection after this long without waiters.
const IDLE: Duration = Duration::from_secs(30);
/// A wait longer than this is cut to it (a `Duration::MAX` timeout means "no timeout").
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What the hub tells waiters.
#[derive(Clone, Debug)]
enum Event {
    /// A waited task finished: its hash key.
    Finished(Arc<str>),
    /// The hub (re)subscribed: notifications may have been lost meanwhile.
    Resubscribed,
}

/// The state of the hub's subscription.
#[derive(Clone, Debug)]
enum Link {
    Connecting,
    Up,
    Down(Arc<str>),
}

/// A running hub.
#[derive(Debug)]
struct Hub {
    events: broadcast::Sender<Event>,
    link: watch::Receiver<Link>,
    task: tokio::task::JoinHandle<()>,
}

/// The client's waiting machinery: the hub, started on demand.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    hub: Arc<Mutex<Option<Hub>>>,
}

impl Drop for Waiters {
    fn drop(&mut self) {
        if let Ok(mut hub) = self.hub.lock()
            && let Some(h) = hub.take()
        {
            h.task.abort();
        }
    }
}

impl Waiters {
    /// A receiver of the hub's events and its link state, starting the hub if needed.
    fn subscribe(&self, rdb: &Rdb) -> Result<(broadcast::Receiver<Event>, watch::Receiver<Link>)> {
        let mut guard = self
            .hub
            .lock()
            .map_err(|_| Error::new(Kind::Closed, "the client's waiters are unusable"))?;
        if guard.as_ref().is_none_or(|h| h.task.is_finished()) {
            let (events, _) = broadcast::channel(1024);
            let (link_tx, link) = watch::channel(Link::Connecting);
            let hub_rdb = Rdb::new(rdb.conn(), rdb.keys().clone());
            let task = tokio::spawn(run_hub(
                hub_rdb,
                events.clone(),
                link_tx,
                Arc::clone(&self.hub),
            ));
            *guard = Some(Hub { events, link, task });
        }
        let hub = guard.as_ref().ok_or_else(|| Error::corrupt("no hub"))?;
        Ok((hub.events.subscribe(), hub.link.clone()))
    }
}

/// Subscribes, forwards messages to the waiters, resubscribes when the connection breaks;
/// ends after [`IDLE`] without waiters (removing itself from `slot` under its lock, so no
/// waiter can subscribe to a hub that is going away).
async fn run_hub(
    rdb: Rdb,
    events: broadcast::Sender<Event>,
    link: watch::Sender<Link>,
    slot: Arc<Mutex<Option<Hub>>>,
) {
    let mut idle_since: Option<Instant> = None;
    // True when the hub may end: nobody listens and nobody did for IDLE.
    let mut may_end = move |events: &broadcast::Sender<Event>| {
        if events.receiver_count() > 0 {
            idle_since = None;
            return false;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < IDLE {
            return false;
        }
        let Ok(mut guard) = slot.lock() else {
            return true;
        };
        // Checked again under the lock: waiters subscribe while holding it.
        if events.receiver_count() > 0 {
            idle_since = None;
            return false;
        }
        *guard = None;
        true
    };
    loop {
        match rdb.subscribe_finished().await {
            Ok(pubsub) => {
                link.send_replace(Link::Up);
                let _ = events.send(Event::Resubscribed);
                let (mut sink, mut messages) = pubsub.split();
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ping.tick().await;
                loop {
                    tokio::select! {
                        m = messages.next() => match m {
                            Some(m) => {
                                let key: String = m.get_payload().unwrap_or_default();
                                let _ = events.send(Event::Finished(key.into()));
                            }
                            None => break,
                        },
                        _ = ping.tick() => {
                            if may_end(&events) {
                                return;
                            }
                            let alive =
                                tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>())
                                    .await;
                            if !matches!(alive, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                link.send_replace(Link::Connecting);
            }
            Err(e) => {
                link.send_replace(Link::Down(e.to_string().into()));
                tokio::time::sleep(RETRY).await;
                if may_end(&events) {
                    return;
                }
            }
        }
    }
}

impl Client {
    /// Waits until task `id` of `queue` finishes and returns its [`TaskInfo`]: state
    /// [`TaskState::Completed`] (with its `result` when the task has a retention period), or
    /// [`TaskState::Archived`] (with `last_err`). Works for tasks enqueued by anyone, Go
    /// clients included; a task that already finished returns at once.
    ///
    /// The call is woken by a Redis pub/sub notification that redisq servers (and the
    /// Inspector's archive and delete) publish when a task that someone waits for finishes;
    /// it costs them nothing for tasks nobody waits for. As a safety net the task is also
    /// read again every 5 s, so a task finished by a Go asynq server (which publishes
    /// nothing), deleted in bulk, or whose notification was lost while the connection was
    /// down is still noticed, a few seconds late.
    ///
    /// One pub/sub connection per client carries every wait of that client; it is opened by
    /// the first wait and closed after 30 s without waits.
    ///
    /// A task completed without retention leaves nothing behind; `wait` still reports it
    /// completed (without `result` and `completed_at`) when the completion was made by a
    /// redisq server while the wait was registered; otherwise (a Go server) it reports
    /// not found, like a deleted task.
    ///
    /// Errors: [`Error::is_timeout`] when `timeout` passes first (`Duration::MAX` waits
    /// without end); [`Error::is_task_not_found`] when the task does not exist or was deleted
    /// while waiting; [`Error::is_invalid_option`] for an invalid queue name or an empty ID;
    /// a Redis error when Redis cannot be reached (at the start, or still at the timeout:
    /// failures in between are retried at the next re-check). Dropping the future stops
    /// waiting.
    ///
    /// ```no_run
    /// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
    /// use std::time::Duration;
    /// use redisq::{Task, TaskOption, TaskState};
    ///
    /// let info = client
    ///     .enqueue_with(&Task::new("report", "q3"), [TaskOption::retention(Duration::from_secs(3600))])
    ///     .await?;
    /// let done = client.wait(&info.queue, &info.id, Duration::from_secs(60)).await?;
    /// match done.state {
    ///     TaskState::Completed => println!("result: {:?}", done.result),
    ///     _ => println!("failed for good: {}", done.last_err),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self, queue: &str, id: &str, timeout: Duration) -> Result<TaskInfo> {
        self.check_open()?;
        let queue = QueueName::new(queue)?;
        let queue = queue.as_str();
        if id.is_empty() {
            return Err(Error::invalid_option("task ID cannot be empty"));
        }
        let timeout = timeout.min(FOREVER);
        let deadline = Instant::now() + timeout;
        let rdb = &self.inner.rdb;
        let task_key = rdb.keys().queue(queue).task(id);
        let (mut events, mut link) = self.inner.waiters.subscribe(rdb)?;
        // Registering before the subscription is up could miss the notification.
        let up =
            tokio::time::timeout_at(deadline, link.wait_for(|l| !matches!(l, Link::Connecting)))
                .await
                .map(|l| l.map(|l| l.clone()));
        match up {
            Ok(Ok(Link::Down(why))) => {
                // The hub keeps trying every second: give it a few attempts.
                let patience = deadline.min(Instant::now() + 3 * RETRY);
                let again =
                    tokio::time::timeout_at(patience, link.wait_for(|l| matches!(l, Link::Up)))
                        .await;
                if !matches!(again, Ok(Ok(_))) {
                    return Err(Error::new(
                        Kind::Redis,
                        format!("could not subscribe to task completions: {why}"),
                    ));
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(Error::new(Kind::Closed, "the client's waiter stopped")),
            Err(_) => {
                // Out of time before the subscription was up: a finished task still answers.
                let check = rdb.wait_check(queue, id, None, SystemTime::now()).await?;
                return outcome(check, queue, id, false)
                    .unwrap_or_else(|| Err(timed_out(queue, id, timeout)));
            }
        }
        let mut seen = false;
        loop {
            let now = SystemTime::now();
            let left = deadline.saturating_duration_since(Instant::now());
            let until = add_saturating(now, left.min(REGISTRATION));
            // A Redis error after the first check does not end the wait (a blip during a
            // long wait): the next check tries again, and it is reported at the deadline.
            let failing = match rdb.wait_check(queue, id, Some(until), now).await {
                Ok(check) => {
                    if let Some(done) = outcome(check, queue, id, seen) {
                        return done;
                    }
                    seen = true;
                    None
                }
                Err(e) if seen && e.is_redis() => Some(e),
                Err(e) => return Err(e),
            };
            // Sleep until a hint: our task's notification, a resubscription, the re-check.
            let recheck = tokio::time::sleep(RECHECK_EVERY.min(left));
            tokio::pin!(recheck);
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(Event::Finished(key)) if *key == *task_key => break,
                        Ok(Event::Finished(_)) => {}
                        Ok(Event::Resubscribed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            // The hub went away (the client is being dropped): re-subscribe
                            // and read the task again.
                            (events, _) = self.inner.waiters.subscribe(rdb)?;
                            break;
                        }
                    },
                    _ = &mut recheck => break,
                }
            }
            if Instant::now() >= deadline {
                if let Some(e) = failing {
                    return Err(e);
                }
                // One last look, without registering: the task may have just finished.
                let check = rdb.wait_check(queue, id, None, SystemTime::now()).await?;
                if let Some(done) = outcome(check, queue, id, seen) {
                    return done;
                }
                let _ = rdb.wait_release(queue, SystemTime::now()).await;
                return Err(timed_out(queue, id, timeout));
            }
        }
    }
}

/// What a check means for the waiter: `None` while the task has not finished.
fn outcome(check: WaitCheck, queue: &str, id: &str, seen: bool) -> Option<Result<TaskInfo>> {
    match check {
        WaitCheck::Missing if seen => Some(Err(Error::new(
            Kind::TaskNotFound,
            format!(
                "task {id:?} of queue {queue:?} no longer exists: it was deleted, or completed \
                 without retention by a server that does not report completions"
            ),
        ))),
        WaitCheck::Missing => Some(Err(Error::new(
            Kind::TaskNotFound,
            format!("task {id:?} not found in queue {queue:?}"),
        ))),
        WaitCheck::CompletedGone(msg) => Some(Ok(task_info_of(TaskRecord {
            msg,
            state: TaskState::Completed,
            next_process_at: None,
            result: None,
            is_orphaned: false,
            progress: None,
        }))),
        WaitCheck::Stored(r) if matches!(r.state, TaskState::Completed | TaskState::Archived) => {
            Some(Ok(task_info_of(r)))
        }
        WaitCheck::Stored(_) => None,
    }
}

fn timed_out(queue: &str, id: &str, timeout: Duration) -> Error {
    Error::new(
        Kind::Timeout,
        format!("task {id:?} of queue {queue:?} did not finish within {timeout:?}"),
    )
}
