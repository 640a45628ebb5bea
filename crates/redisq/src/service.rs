//! tower interop (feature `tower`): tower [`Service`]s as handlers, handlers as services, and
//! tower layers around the handlers of a [`ServeMux`].
//!
//! - [`TaskRequest`] is the request: the task and its context.
//! - [`ServiceHandler`] runs a `Service<TaskRequest, Response = ()>` as a [`Handler`];
//!   [`ServeMux::handle_service`] registers one.
//! - [`HandlerService`] is a [`Handler`] (a closure, a [`ServeMux`], ...) seen as a `Service`,
//!   so that tower layers and `ServiceBuilder` stacks apply to it. Its error is a
//!   [`HandlerFailure`], which tower layers can box and which comes back as the original
//!   [`HandlerError`] (a skip-retry error stays one).
//! - [`ServeMux::layer`] wraps every handler of a mux in a layer, once per handler.
//!
//! Each task is one call: the service is cloned, then driven to readiness
//! ([`ServiceExt::ready`]), then called, as tower recommends for shared services. Waiting for
//! readiness is part of the attempt, so it counts against the task's timeout.
//! A service's error becomes the task's failure through `Into<HandlerError>`: any
//! `std::error::Error` (tower's `Elapsed` from a timeout is stored as `request timed out`)
//! or a [`HandlerError`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use crate::handler::{
    BoxFuture, BoxHandler, Handler, HandlerError, HandlerFailure, HandlerResult, TaskContext,
};
use crate::mux::ServeMux;
use crate::task::Task;

/// What a tower [`Service`] receives for each task: the task and the context of the attempt.
///
/// ```
/// use std::future::{Ready, ready};
/// use std::task::{Context, Poll};
/// use redisq::{HandlerFailure, TaskRequest};
///
/// /// Counts payload bytes; a tower `Service` written by hand.
/// #[derive(Clone)]
/// struct PayloadLen;
///
/// impl tower::Service<TaskRequest> for PayloadLen {
///     type Response = ();
///     type Error = HandlerFailure;
///     type Future = Ready<Result<(), HandlerFailure>>;
///
///     fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
///         Poll::Ready(Ok(()))
///     }
///
///     fn call(&mut self, req: TaskRequest) -> Self::Future {
///         println!("{} has {} bytes", req.ctx.task_id(), req.task.payload().len());
///         ready(Ok(()))
///     }
/// }
///
/// let mut mux = redisq::ServeMux::new();
/// mux.handle_service("stats:", PayloadLen);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// The attempt: task ID, queue, retry count, deadline, cancellation, result writer.
    pub ctx: TaskContext,
    /// The task: type, payload and headers.
    pub task: Task,
}

/// A [`Handler`] seen as a tower [`Service`]: `Service<TaskRequest, Response = (),
/// Error = HandlerFailure>`, always ready, cheap to clone.
///
/// Use it to put tower layers around a handler or a whole [`ServeMux`], then turn the stack
/// back into a handler with [`ServiceHandler`]. The stack is built once, when you build it.
///
/// ```no_run
/// # async fn demo(server: redisq::Server) -> redisq::Result<()> {
/// use std::time::Duration;
/// use redisq::{HandlerService, ServeMux, ServiceHandler, Task, TaskContext};
/// use tower::ServiceBuilder;
///
/// let mut mux = ServeMux::new();
/// mux.handle("email:", |_ctx: TaskContext, _task: Task| async { Ok(()) });
///
/// // At most 4 tasks at a time in this server, each stopped after 10 s.
/// let stack = ServiceBuilder::new()
///     .concurrency_limit(4)
///     .timeout(Duration::from_secs(10))
///     .service(HandlerService::new(mux));
/// server.run(ServiceHandler::new(stack)).await
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Clone)]
pub struct HandlerService {
    handler: BoxHandler,
}

impl HandlerService {
    /// Wraps a handler.
    pub fn new(handler: impl Handler) -> Self {
        HandlerService {
            handler: Arc::new(handler),
        }
    }

    /// Wraps an already shared handler (no extra indirection).
    pub fn from_shared(handler: BoxHandler) -> Self {
        HandlerService { handler }
    }
}

impl Service<TaskRequest> for HandlerService {
    type Response = ();
    type Error = HandlerFailure;
    type Future = BoxFuture<Result<(), HandlerFailure>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: TaskRequest) -> Self::Future {
        let fut = self.handler.process_task(req.ctx, req.task);
        Box::pin(async move { fut.await.map_err(HandlerFailure::from) })
    }
}

impl fmt::Debug for HandlerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerService").finish_non_exhaustive()
    }
}

/// A tower [`Service`] run as a [`Handler`]: each task clones the service, waits until the
/// clone is ready, and calls it with a [`TaskRequest`].
///
/// The service must answer `()` and its error must convert into a [`HandlerError`]: any
/// `std::error::Error + Send + Sync` (a plain failure, retried) or a [`HandlerError`] or
/// [`HandlerFailure`] (kept as it is, so a skip-retry error still archives the task). The
/// service needs to be `Send` but not `Sync`.
///
/// ```no_run
/// # async fn demo(server: redisq::Server) -> redisq::Result<()> {
/// use redisq::{HandlerError, ServiceHandler, TaskRequest};
///
/// let svc = tower::service_fn(|req: TaskRequest| async move {
///     if req.task.payload().is_empty() {
///         return Err(HandlerError::skip_retry("empty payload"));
///     }
///     Ok(())
/// });
/// server.run(ServiceHandler::new(svc)).await
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub struct ServiceHandler<S> {
    // Only cloned under the lock, so `S` need not be `Sync`.
    svc: Mutex<S>,
}

impl<S> ServiceHandler<S> {
    /// Wraps a service.
    pub fn new(svc: S) -> Self {
        ServiceHandler {
            svc: Mutex::new(svc),
        }
    }

    /// Gives back the service.
    pub fn into_inner(self) -> S {
        self.svc
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Handler for ServiceHandler<S>
where
    S: Service<TaskRequest, Response = ()> + Clone + Send + 'static,
    S::Error: Into<HandlerError>,
    S::Future: Send + 'static,
{
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult> {
        let mut svc = self
            .svc
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Box::pin(async move {
            let ready = match svc.ready().await {
                Ok(ready) => ready,
                Err(e) => return Err(e.into()),
            };
            ready
                .call(TaskRequest { ctx, task })
                .await
                .map_err(Into::into)
        })
    }
}

impl<S> fmt::Debug for ServiceHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandler")
            .field("service", &std::any::type_name::<S>())
            .finish()
    }
}

impl ServeMux {
    /// Registers a tower [`Service`] for `pattern` (run as a [`ServiceHandler`]: cloned,
    /// made ready and called for each task).
    ///
    /// ```
    /// use redisq::{HandlerError, ServeMux, TaskRequest};
    ///
    /// let mut mux = ServeMux::new();
    /// mux.handle_service(
    ///     "report:",
    ///     tower::service_fn(|req: TaskRequest| async move {
    ///         println!("report {}", req.task.task_type());
    ///         Ok::<(), HandlerError>(())
    ///     }),
    /// );
    /// ```
    ///
    /// # Panics
    /// As [`ServeMux::handle`]: when the pattern is blank or already registered.
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    #[track_caller]
    pub fn handle_service<S>(&mut self, pattern: impl Into<String>, svc: S) -> &mut Self
    where
        S: Service<TaskRequest, Response = ()> + Clone + Send + 'static,
        S::Error: Into<HandlerError>,
        S::Future: Send + 'static,
    {
        self.handle(pattern, ServiceHandler::new(svc))
    }

    /// Wraps every handler of the mux, and the not-found handler, in a tower layer.
    ///
    /// Each handler is seen as a [`HandlerService`], wrapped by `layer`, and run as a
    /// [`ServiceHandler`]. The wrapped services are built **once**: the first time the mux
    /// routes a task, `layer.layer(..)` is called once for each registered handler and once
    /// for the not-found handler, never per task. Registering a handler or adding a layer
    /// afterwards rebuilds them on the next task; a clone of the mux made after they were
    /// built shares them. A layer with shared state, such as
    /// tower's `ConcurrencyLimitLayer`, therefore gives each handler its own limit; to limit
    /// the whole mux, wrap it instead (see [`HandlerService`]).
    ///
    /// Layers apply in the order added, the first outermost (as with `ServiceBuilder`), and
    /// inside any [`ServeMux::middleware`]. Pass a `ServiceBuilder` to add several at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use redisq::{ServeMux, Task, TaskContext};
    /// use tower::ServiceBuilder;
    ///
    /// let mut mux = ServeMux::new();
    /// mux.handle("image:", |_ctx: TaskContext, _task: Task| async { Ok(()) });
    /// mux.layer(
    ///     ServiceBuilder::new()
    ///         .concurrency_limit(2) // at most 2 image tasks at a time
    ///         .timeout(Duration::from_secs(30)),
    /// );
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub fn layer<L>(&mut self, layer: L) -> &mut Self
    where
        L: Layer<HandlerService> + Send + Sync + 'static,
        L::Service: Service<TaskRequest, Response = ()> + Clone + Send + 'static,
        <L::Service as Service<TaskRequest>>::Error: Into<HandlerError>,
        <L::Service as Service<TaskRequest>>::Future: Send + 'static,
    {
        self.add_layer(Arc::new(move |inner: BoxHandler| -> BoxHandler {
            Arc::new(ServiceHandler::new(
                layer.layer(HandlerService::from_shared(inner)),
            ))
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    use super::*;

    fn ctx() -> TaskContext {
        TaskContext::detached("id", "default", SystemTime::now())
    }

    /// Counts the calls that go through it.
    #[derive(Clone)]
    struct CountCalls<S> {
        inner: S,
        calls: Arc<AtomicUsize>,
    }

    impl<S: Service<TaskRequest>> Service<TaskRequest> for CountCalls<S> {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: TaskRequest) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.call(req)
        }
    }

    /// A layer that counts how often it is applied and how many calls go through it.
    #[derive(Clone, Default)]
    struct Counting {
        built: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    }

    impl<S> Layer<S> for Counting {
        type Service = CountCalls<S>;

        fn layer(&self, inner: S) -> Self::Service {
            self.built.fetch_add(1, Ordering::SeqCst);
            CountCalls {
                inner,
                calls: self.calls.clone(),
            }
        }
    }

    #[tokio::test]
    async fn layers_are_built_once_per_handler_and_rebuilt_after_a_change() {
        let counting = Counting::default();
        let mut mux = ServeMux::new();
        mux.handle("a", |_c: TaskContext, _t: Task| async { Ok(()) })
            .handle("b", |_c: TaskContext, _t: Task| async { Ok(()) })
            .layer(counting.clone());
        assert_eq!(counting.built.load(Ordering::SeqCst), 0, "lazy");
        for t in ["a", "b", "a", "b", "a"] {
            mux.process_task(ctx(), Task::new(t, "")).await.expect("ok");
        }
        let _ = mux.process_task(ctx(), Task::new("zzz", "")).await;
        // a, b and not-found.
        assert_eq!(counting.built.load(Ordering::SeqCst), 3);
        assert_eq!(counting.calls.load(Ordering::SeqCst), 6);

        mux.handle("c", |_c: TaskContext, _t: Task| async { Ok(()) });
        mux.process_task(ctx(), Task::new("c", ""))
            .await
            .expect("ok");
        assert_eq!(counting.built.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn handler_errors_keep_their_kind_through_a_boxing_layer() {
        let mut mux = ServeMux::new();
        mux.handle("skip", |_c: TaskContext, _t: Task| async {
            Err(HandlerError::skip_retry("bad"))
        })
        .handle("revoke", |_c: TaskContext, _t: Task| async {
            Err(HandlerError::revoke("gone"))
        })
        .layer(tower::layer::layer_fn(|inner: HandlerService| {
            inner.map_err(|e: HandlerFailure| -> tower::BoxError { Box::new(e) })
        }));
        let err = mux
            .process_task(ctx(), Task::new("skip", ""))
            .await
            .expect_err("fails");
        assert!(err.is_skip_retry());
        assert_eq!(err.to_string(), "bad: skip retry for the task");
        let err = mux
            .process_task(ctx(), Task::new("revoke", ""))
            .await
            .expect_err("fails");
        assert!(err.is_revoke());
    }

    #[tokio::test]
    async fn a_service_handler_clones_then_waits_for_readiness() {
        /// Ready only on the second poll; counts clones.
        struct Slow {
            polled: bool,
            clones: Arc<AtomicUsize>,
        }
        impl Clone for Slow {
            fn clone(&self) -> Self {
                self.clones.fetch_add(1, Ordering::SeqCst);
                Slow {
                    polled: false,
                    clones: self.clones.clone(),
                }
            }
        }
        impl Service<TaskRequest> for Slow {
            type Response = ();
            type Error = std::io::Error;
            type Future = std::future::Ready<Result<(), std::io::Error>>;
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                if self.polled {
                    Poll::Ready(Ok(()))
                } else {
                    self.polled = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
            fn call(&mut self, req: TaskRequest) -> Self::Future {
                assert!(self.polled, "called before ready");
                std::future::ready(if req.task.payload() == b"fail" {
                    Err(std::io::Error::other("disk full"))
                } else {
                    Ok(())
                })
            }
        }
        let clones = Arc::new(AtomicUsize::new(0));
        let handler = ServiceHandler::new(Slow {
            polled: false,
            clones: clones.clone(),
        });
        handler
            .process_task(ctx(), Task::new("t", ""))
            .await
            .expect("ok");
        let err = handler
            .process_task(ctx(), Task::new("t", "fail"))
            .await
            .expect_err("fails");
        assert_eq!(err.to_string(), "disk full");
        assert!(!err.is_skip_retry());
        assert!(err.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(clones.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn handler_service_reports_handler_errors_as_failures() {
        let mut svc = HandlerService::new(|_c: TaskContext, t: Task| async move {
            if t.payload().is_empty() {
                Ok(())
            } else {
                Err(HandlerError::msg("no"))
            }
        });
        svc.ready()
            .await
            .expect("ready")
            .call(TaskRequest {
                ctx: ctx(),
                task: Task::new("t", ""),
            })
            .await
            .expect("ok");
        let failure = svc
            .call(TaskRequest {
                ctx: ctx(),
                task: Task::new("t", "x"),
            })
            .await
            .expect_err("fails");
        assert_eq!(failure.to_string(), "no");
        assert_eq!(failure.into_handler_error().to_string(), "no");
    }
}
