//! Typed tasks: payloads that are Rust values, written and read as JSON (feature `json`, on
//! by default).
//!
//! JSON is what Go services using asynq put in payloads (`json.Marshal`), so a typed task
//! written here is read by a Go handler with `json.Unmarshal`, and the other way round.
//!
//! - Producer: [`Task::json`] encodes any `Serialize` value; [`Task::from_typed`] and
//!   `Client::enqueue_typed` take a [`TypedTask`], which carries its own type name.
//! - Consumer: [`ServeMux::handle_json`] and [`ServeMux::handle_typed`] register handlers
//!   that receive the decoded value; [`Task::decode_json`] decodes inside a plain handler.
//!
//! A payload that does not decode is not retried: retrying cannot fix it. The task is
//! archived at once, and its last error names the Rust type and the decoding error.

use std::any::type_name;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::handler::{HandlerError, HandlerResult, TaskContext};
use crate::mux::ServeMux;
use crate::option::TaskOption;
use crate::task::Task;

/// A Rust type that is the payload of one task type: the type name is defined once, beside
/// the payload, and used by both producer and consumer.
///
/// The producer enqueues values with `Client::enqueue_typed`
/// (or builds tasks with [`Task::from_typed`]); the consumer registers a handler with
/// [`ServeMux::handle_typed`]. Both take the task type from [`TypedTask::TYPE`], so a typo
/// cannot send tasks where no handler listens. The payload is the value's JSON encoding.
///
/// ```no_run
/// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use redisq::{ServeMux, TaskContext, TaskOption, TypedTask};
///
/// #[derive(Serialize, Deserialize)]
/// struct WelcomeEmail {
///     user_id: u64,
///     locale: String,
/// }
///
/// impl TypedTask for WelcomeEmail {
///     const TYPE: &'static str = "email:welcome";
///
///     fn options(&self) -> Vec<TaskOption> {
///         vec![TaskOption::queue("emails"), TaskOption::timeout(Duration::from_secs(30))]
///     }
/// }
///
/// // Producer.
/// client.enqueue_typed(&WelcomeEmail { user_id: 42, locale: "fr".into() }).await?;
///
/// // Consumer.
/// let mut mux = ServeMux::new();
/// mux.handle_typed(|_ctx: TaskContext, email: WelcomeEmail| async move {
///     println!("welcome {} ({})", email.user_id, email.locale);
///     Ok(())
/// });
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub trait TypedTask: Serialize + DeserializeOwned + Send + 'static {
    /// The task type name, as a Go service would pass it to `asynq.NewTask`.
    const TYPE: &'static str;

    /// Default options of a task made from this value (queue, retries, timeout, ...),
    /// applied before the options given to the enqueue call, which win on conflict. None by
    /// default.
    fn options(&self) -> Vec<TaskOption> {
        Vec::new()
    }
}

impl Task {
    /// A task whose payload is `value` encoded as compact JSON (UTF-8, no whitespace), as Go's
    /// `json.Marshal` writes and `json.Unmarshal` reads it.
    ///
    /// Fails with [`Error::is_invalid_option`] when the value cannot be encoded (for example a
    /// map whose keys are not strings, or a `Serialize` impl that returns an error); the
    /// encoder's error is the [`std::error::Error::source`].
    ///
    /// ```
    /// # fn demo() -> redisq::Result<()> {
    /// use redisq::Task;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Resize {
    ///     image_id: u64,
    ///     width: u32,
    /// }
    ///
    /// let task = Task::json("image:resize", &Resize { image_id: 7, width: 640 })?;
    /// assert_eq!(task.payload(), br#"{"image_id":7,"width":640}"#);
    /// # Ok(()) }
    /// # demo().unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: Serialize + ?Sized>(task_type: impl Into<String>, value: &T) -> Result<Task> {
        let task_type = task_type.into();
        match serde_json::to_vec(value) {
            Ok(payload) => Ok(Task::new(task_type, payload)),
            Err(e) => Err(Error::invalid_option(format!(
                "cannot encode the payload of task {} as JSON",
                crate::core::time::go_quote(&task_type)
            ))
            .with_source(e)),
        }
    }

    /// A task of type [`TypedTask::TYPE`] whose payload is `value` as JSON (see
    /// [`Task::json`]), with the value's [`TypedTask::options`].
    ///
    /// ```
    /// # fn demo() -> redisq::Result<()> {
    /// use redisq::{Task, TypedTask};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    /// }
    /// impl TypedTask for Resize {
    ///     const TYPE: &'static str = "image:resize";
    /// }
    ///
    /// let task = Task::from_typed(&Resize { image_id: 7 })?;
    /// assert_eq!(task.task_type(), "image:resize");
    /// # Ok(()) }
    /// # demo().unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn from_typed<T: TypedTask>(value: &T) -> Result<Task> {
        Ok(Task::json(T::TYPE, value)?.with_options(value.options()))
    }

    /// Decodes the JSON payload as a `T`.
    ///
    /// The error is a skip-retry [`HandlerError`] (the task is archived without retries)
    /// whose message names the task type, the Rust type and the decoding error, so a handler
    /// can use `?`:
    ///
    /// ```
    /// use redisq::{Task, TaskContext};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    /// }
    ///
    /// let handler = |_ctx: TaskContext, task: Task| async move {
    ///     let resize: Resize = task.decode_json()?;
    ///     println!("resizing {}", resize.image_id);
    ///     Ok(())
    /// };
    /// # fn is_handler(_: impl redisq::Handler) {}
    /// # is_handler(handler);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn decode_json<T: DeserializeOwned>(&self) -> std::result::Result<T, HandlerError> {
        serde_json::from_slice(self.payload()).map_err(|e| {
            HandlerError::skip_retry(format!(
                "cannot decode the payload of task {} as {}: {e}",
                crate::core::time::go_quote(self.task_type()),
                type_name::<T>()
            ))
        })
    }
}

impl ServeMux {
    /// Registers for `pattern` a handler that receives the payload decoded from JSON as a
    /// `T` (matching by pattern as [`ServeMux::handle`] does).
    ///
    /// A payload that does not decode as a `T` never reaches `handler`: the task fails with
    /// a skip-retry error and is archived at once, its last error naming the Rust type and
    /// the decoding error (see [`Task::decode_json`]).
    ///
    /// ```
    /// use redisq::{HandlerError, ServeMux, TaskContext};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    ///     width: u32,
    /// }
    ///
    /// let mut mux = ServeMux::new();
    /// mux.handle_json("image:resize", |_ctx: TaskContext, job: Resize| async move {
    ///     if job.width == 0 {
    ///         return Err(HandlerError::skip_retry("width must be positive"));
    ///     }
    ///     println!("resizing {} to {}", job.image_id, job.width);
    ///     Ok(())
    /// });
    /// ```
    ///
    /// # Panics
    /// As [`ServeMux::handle`]: when the pattern is blank or already registered.
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    #[track_caller]
    pub fn handle_json<T, F, Fut>(&mut self, pattern: impl Into<String>, handler: F) -> &mut Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(TaskContext, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.add(pattern.into(), Arc::new(json_handler(handler)), false)
    }

    /// Registers the handler of the typed task `T`, for tasks of type [`TypedTask::TYPE`]
    /// exactly (never by prefix). Decoding is as in [`ServeMux::handle_json`]: a payload that
    /// does not decode is archived at once.
    ///
    /// ```
    /// use redisq::{ServeMux, TaskContext, TypedTask};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    /// }
    /// impl TypedTask for Resize {
    ///     const TYPE: &'static str = "image:resize";
    /// }
    ///
    /// let mut mux = ServeMux::new();
    /// mux.handle_typed(|_ctx: TaskContext, job: Resize| async move {
    ///     println!("resizing {}", job.image_id);
    ///     Ok(())
    /// });
    /// assert_eq!(mux.pattern_for("image:resize"), Some("image:resize"));
    /// assert_eq!(mux.pattern_for("image:resize:v2"), None);
    /// ```
    ///
    /// # Panics
    /// When `T::TYPE` is blank or already registered.
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    #[track_caller]
    pub fn handle_typed<T, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        T: TypedTask,
        F: Fn(TaskContext, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.add(T::TYPE.to_string(), Arc::new(json_handler(handler)), true)
    }
}

/// A handler that decodes the payload as a `T` and calls `f` with it.
fn json_handler<T, F, Fut>(
    f: F,
) -> impl Fn(TaskContext, Task) -> std::pin::Pin<Box<dyn Future<Output = HandlerResult> + Send>>
+ Send
+ Sync
+ 'static
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(TaskContext, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    move |ctx: TaskContext, task: Task| match task.decode_json::<T>() {
        Ok(value) => Box::pin(f(ctx, value)),
        Err(e) => Box::pin(std::future::ready(Err(e))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::SystemTime;

    use serde::{Deserialize, Serialize, Serializer};

    use super::*;
    use crate::handler::Handler;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    impl TypedTask for Point {
        const TYPE: &'static str = "geo:point";

        fn options(&self) -> Vec<TaskOption> {
            vec![TaskOption::queue("geo")]
        }
    }

    fn ctx() -> TaskContext {
        TaskContext::detached("id", "default", SystemTime::now())
    }

    #[test]
    fn json_payload_is_compact() {
        let task = Task::json("p", &Point { x: 1, y: -2 }).expect("encodes");
        assert_eq!(task.task_type(), "p");
        assert_eq!(task.payload(), br#"{"x":1,"y":-2}"#);
    }

    #[test]
    fn encoding_errors_are_invalid_option_with_the_serde_source() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("refused"))
            }
        }
        let err = Task::json("t", &Refuses).expect_err("refused");
        assert!(err.is_invalid_option(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot encode the payload of task \"t\" as JSON: refused"
        );
        let source = std::error::Error::source(&err).expect("source");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());

        let mut bad_keys = HashMap::new();
        bad_keys.insert((1, 2), 3);
        assert!(
            Task::json("t", &bad_keys)
                .expect_err("keys")
                .is_invalid_option()
        );
    }

    #[test]
    fn from_typed_takes_type_and_options() {
        let task = Task::from_typed(&Point { x: 3, y: 4 }).expect("encodes");
        assert_eq!(task.task_type(), "geo:point");
        assert_eq!(task.options(), [TaskOption::queue("geo")]);
        assert_eq!(
            task.decode_json::<Point>().expect("decodes"),
            Point { x: 3, y: 4 }
        );
    }

    #[test]
    fn decode_errors_skip_retry_and_name_the_type() {
        let err = Task::new("geo:point", "{\"x\":1}")
            .decode_json::<Point>()
            .expect_err("missing y");
        assert!(err.is_skip_retry());
        let text = err.to_string();
        assert!(
            text.starts_with("cannot decode the payload of task \"geo:point\" as "),
            "{text}"
        );
        assert!(text.contains(type_name::<Point>()), "{text}");
        assert!(text.contains("missing field `y`"), "{text}");
        assert!(text.ends_with(": skip retry for the task"), "{text}");
    }

    #[tokio::test]
    async fn handle_json_decodes_and_rejects() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut mux = ServeMux::new();
        mux.handle_json("p", move |_ctx: TaskContext, p: Point| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(p);
                Ok(())
            }
        });
        mux.process_task(ctx(), Task::new("p", r#"{"x":5,"y":6}"#))
            .await
            .expect("handled");
        assert_eq!(rx.recv().await, Some(Point { x: 5, y: 6 }));
        let err = mux
            .process_task(ctx(), Task::new("p", "nope"))
            .await
            .expect_err("not JSON");
        assert!(err.is_skip_retry());
        assert!(
            rx.try_recv().is_err(),
            "the handler never saw the bad payload"
        );
    }

    #[tokio::test]
    async fn handle_typed_matches_its_type_exactly() {
        let mut mux = ServeMux::new();
        mux.handle_typed(|_ctx: TaskContext, _p: Point| async { Ok(()) });
        mux.handle("geo:", |_ctx: TaskContext, _t: Task| async { Ok(()) });
        assert_eq!(mux.pattern_for("geo:point"), Some("geo:point"));
        assert_eq!(mux.pattern_for("geo:pointer"), Some("geo:"));
        mux.process_task(
            ctx(),
            Task::json("geo:point", &Point { x: 0, y: 0 }).expect("json"),
        )
        .await
        .expect("handled");
    }
}
