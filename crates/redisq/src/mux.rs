//! [`ServeMux`]: routes tasks to handlers by type, with middleware and layers.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::handler::{BoxFuture, BoxHandler, Handler, HandlerError, HandlerResult, TaskContext};
use crate::task::Task;

/// Wraps a handler in another (asynq's `MiddlewareFunc`).
pub type Middleware = Arc<dyn Fn(BoxHandler) -> BoxHandler + Send + Sync>;

/// Wraps a handler once, when the mux is first used (a tower layer, type-erased).
pub(crate) type Wrap = Arc<dyn Fn(BoxHandler) -> BoxHandler + Send + Sync>;

/// The text of the error for a task type with no handler (asynq's `ErrHandlerNotFound`).
pub const HANDLER_NOT_FOUND: &str = "handler not found for task";

/// Routes each task to the handler registered for its type (asynq's `ServeMux`).
///
/// Matching follows asynq: an exact match on the whole type first; otherwise the longest
/// registered pattern that is a prefix of the type (a plain string prefix, so `"email"` also
/// matches `"emailfoo"`). A task with no match fails with
/// `handler not found for task "<type>"`, which is retried like any failure. Handlers
/// registered for a typed task (`handle_typed`, with the `json` feature) match their type
/// exactly and never by prefix.
///
/// Middleware added with [`ServeMux::middleware`] wraps every handler, including the
/// not-found one; the first added is the outermost. As in asynq, a middleware function is
/// applied each time a task is routed, so it should only wrap, not do costly set-up.
///
/// With the `tower` feature, `ServeMux::layer` adds tower layers, which also wrap every
/// handler (the not-found one too, first added outermost) but are applied **once per
/// handler**: the first time the mux routes a task, not for each task. Middleware runs
/// outside the layers.
///
/// ```
/// use redisq::{ServeMux, Task, TaskContext};
///
/// let mut mux = ServeMux::new();
/// mux.handle("email:", |_ctx: TaskContext, task: Task| async move {
///     println!("sending {}", task.task_type());
///     Ok(())
/// });
/// assert_eq!(mux.pattern_for("email:welcome"), Some("email:"));
/// ```
#[derive(Clone, Default)]
pub struct ServeMux {
    // Sorted by pattern length, longest first, so the first prefix match is the longest.
    entries: Vec<Entry>,
    middleware: Vec<Middleware>,
    layers: Vec<Wrap>,
    // The handlers with the layers applied, built on first use; reset by every change.
    built: OnceLock<Built>,
}

#[derive(Clone)]
struct Entry {
    pattern: String,
    handler: BoxHandler,
    // Matches only a task type equal to the pattern, never by prefix.
    exact: bool,
}

/// The entries' handlers (same order) and the not-found handler, with the layers applied.
#[derive(Clone)]
struct Built {
    handlers: Vec<BoxHandler>,
    not_found: BoxHandler,
}

impl ServeMux {
    /// An empty mux.
    pub fn new() -> Self {
        ServeMux::default()
    }

    /// Registers `handler` for `pattern`.
    ///
    /// # Panics
    /// When the pattern is blank or already registered: both are programming errors, caught
    /// at start-up.
    #[track_caller]
    pub fn handle(&mut self, pattern: impl Into<String>, handler: impl Handler) -> &mut Self {
        self.add(pattern.into(), Arc::new(handler), false)
    }

    /// Registers a handler; `exact` ones match only a task type equal to the pattern.
    #[track_caller]
    pub(crate) fn add(&mut self, pattern: String, handler: BoxHandler, exact: bool) -> &mut Self {
        assert!(
            !pattern.trim().is_empty(),
            "redisq: ServeMux pattern must not be blank"
        );
        assert!(
            !self.entries.iter().any(|e| e.pattern == pattern),
            "redisq: ServeMux already has a handler for {pattern:?}"
        );
        let pos = self
            .entries
            .iter()
            .position(|e| e.pattern.len() < pattern.len())
            .unwrap_or(self.entries.len());
        self.entries.insert(
            pos,
            Entry {
                pattern,
                handler,
                exact,
            },
        );
        self.built = OnceLock::new();
        self
    }

    /// Adds middleware; the first added wraps all the others.
    pub fn middleware<F>(&mut self, mw: F) -> &mut Self
    where
        F: Fn(BoxHandler) -> BoxHandler + Send + Sync + 'static,
    {
        self.middleware.push(Arc::new(mw));
        self
    }

    /// Adds a wrapper applied once per handler (inside the middleware); the first added is
    /// the outermost.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn add_layer(&mut self, wrap: Wrap) -> &mut Self {
        self.layers.push(wrap);
        self.built = OnceLock::new();
        self
    }

    /// The pattern that would handle a task of this type.
    pub fn pattern_for(&self, task_type: &str) -> Option<&str> {
        self.find(task_type)
            .map(|i| self.entries[i].pattern.as_str())
    }

    /// The index of the entry for a task type.
    fn find(&self, task_type: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.pattern == task_type)
            .or_else(|| {
                self.entries
                    .iter()
                    .position(|e| !e.exact && task_type.starts_with(e.pattern.as_str()))
            })
    }

    /// The handlers with the layers applied, built the first time they are needed.
    fn built(&self) -> &Built {
        self.built.get_or_init(|| {
            let wrap = |h: BoxHandler| self.layers.iter().rev().fold(h, |h, layer| layer(h));
            Built {
                handlers: self
                    .entries
                    .iter()
                    .map(|e| wrap(e.handler.clone()))
                    .collect(),
                not_found: wrap(Arc::new(not_found)),
            }
        })
    }

    /// The handler for a task type, with the layers and middleware applied.
    pub fn handler_for(&self, task_type: &str) -> BoxHandler {
        let built = self.built();
        let inner: BoxHandler = match self.find(task_type) {
            Some(i) => built.handlers[i].clone(),
            None => built.not_found.clone(),
        };
        self.middleware
            .iter()
            .rev()
            .fold(inner, |next, mw| mw(next))
    }
}

async fn not_found(_ctx: TaskContext, task: Task) -> HandlerResult {
    Err(HandlerError::msg(format!(
        "{HANDLER_NOT_FOUND} {}",
        crate::core::time::go_quote(task.task_type())
    )))
}

impl Handler for ServeMux {
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult> {
        self.handler_for(task.task_type()).process_task(ctx, task)
    }
}

impl fmt::Debug for ServeMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeMux")
            .field(
                "patterns",
                &self
                    .entries
                    .iter()
                    .map(|e| e.pattern.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("middleware", &self.middleware.len())
            .field("layers", &self.layers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::SystemTime;

    use super::*;

    fn ctx() -> TaskContext {
        TaskContext::detached("id", "default", SystemTime::now())
    }

    fn tagged(tag: &'static str, log: Arc<Mutex<Vec<String>>>) -> impl Handler {
        move |_ctx: TaskContext, task: Task| {
            let log = log.clone();
            async move {
                log.lock()
                    .map(|mut l| l.push(format!("{tag}:{}", task.task_type())))
                    .ok();
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn exact_then_longest_prefix() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut mux = ServeMux::new();
        mux.handle("email", tagged("short", log.clone()))
            .handle("email:welcome", tagged("exact", log.clone()))
            .handle("email:w", tagged("long", log.clone()));
        for t in ["email:welcome", "email:weekly", "emailfoo", "email:x"] {
            mux.process_task(ctx(), Task::new(t, ""))
                .await
                .expect("handled");
        }
        let got = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(
            got,
            [
                "exact:email:welcome",
                "long:email:weekly",
                "short:emailfoo",
                "short:email:x"
            ]
        );
    }

    #[tokio::test]
    async fn not_found_is_a_retryable_failure() {
        let mux = ServeMux::new();
        let err = mux
            .process_task(ctx(), Task::new("nope", ""))
            .await
            .expect_err("no handler");
        assert_eq!(err.to_string(), "handler not found for task \"nope\"");
        assert!(!err.is_skip_retry() && !err.is_revoke());
    }

    #[tokio::test]
    async fn first_middleware_is_outermost_and_wraps_not_found() {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut mux = ServeMux::new();
        mux.handle("a", tagged("h", log.clone()));
        for name in ["first", "second"] {
            let log = log.clone();
            mux.middleware(move |next: BoxHandler| -> BoxHandler {
                let log = log.clone();
                Arc::new(move |ctx: TaskContext, task: Task| {
                    let (log, next) = (log.clone(), next.clone());
                    async move {
                        log.lock().map(|mut l| l.push(format!("{name}>"))).ok();
                        let r = next.process_task(ctx, task).await;
                        log.lock().map(|mut l| l.push(format!("<{name}"))).ok();
                        r
                    }
                })
            });
        }
        mux.process_task(ctx(), Task::new("a", ""))
            .await
            .expect("ok");
        let _ = mux.process_task(ctx(), Task::new("zzz", "")).await;
        let got = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(
            got,
            [
                "first>", "second>", "h:a", "<second", "<first", "first>", "second>", "<second",
                "<first"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "already has a handler")]
    fn duplicate_pattern_panics() {
        let mut mux = ServeMux::new();
        let h = |_c: TaskContext, _t: Task| async { Ok(()) };
        mux.handle("a", h).handle("a", h);
    }

    #[test]
    #[should_panic(expected = "must not be blank")]
    fn blank_pattern_panics() {
        ServeMux::new().handle(" ", |_c: TaskContext, _t: Task| async { Ok(()) });
    }
}
