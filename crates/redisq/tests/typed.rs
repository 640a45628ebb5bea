//! Typed tasks on real Redis: JSON payloads through a running server, payloads that do not
//! decode, `TypedTask` on both sides, and payloads written the way Go's `encoding/json` writes
//! them.
#![cfg(feature = "json")]

mod common;

use std::any::type_name;
use std::collections::BTreeMap;

use base64::Engine as _;
use redisq::{ServeMux, Server, Task, TaskContext, TaskOption, TaskState, TypedTask};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::mpsc;

use common::{Env, WireValue, fast_config, proto_fields, recv, task_msg, wait_for_state};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    note: Option<String>,
}

/// The payload bytes stored in the task's message (`TaskMessage.payload`, field 2).
async fn stored_payload(
    conn: &redis::aio::MultiplexedConnection,
    queue: &str,
    id: &str,
) -> Vec<u8> {
    let raw: Vec<u8> = redis::cmd("HGET")
        .arg(format!("asynq:{{{queue}}}:t:{id}"))
        .arg("msg")
        .query_async(&mut conn.clone())
        .await
        .expect("HGET msg");
    proto_fields(&raw)
        .expect("a TaskMessage")
        .into_iter()
        .find_map(|(field, value)| match value {
            WireValue::Bytes(b) if field == 2 => Some(b),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn json_tasks_round_trip_through_a_server() {
    let env = Env::start().await;
    let c = env.conn().await;
    let order = Order {
        id: 7,
        items: vec!["book".into(), "lamp €12".into()],
        note: None,
    };
    let task = Task::json("order:place", &order).expect("encodes");
    env.client
        .enqueue_with(&task, [TaskOption::task_id("o1")])
        .await
        .expect("enqueue");
    assert_eq!(
        stored_payload(&c, "default", "o1").await,
        serde_json::to_vec(&order).expect("json"),
        "the payload in Redis is the JSON encoding"
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle_json("order:", move |ctx: TaskContext, order: Order| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((ctx.task_id().to_string(), order));
            Ok(())
        }
    });
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(mux).await.expect("start");
    let (id, got) = recv(&mut rx).await;
    server.shutdown().await;
    assert_eq!(id, "o1");
    assert_eq!(got, order);
}

#[tokio::test]
async fn a_payload_that_does_not_decode_is_archived_at_once() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("order:place", r#"{"id":"seven","items":[]}"#),
            [TaskOption::task_id("bad"), TaskOption::max_retry(5)],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<Order>();
    let mut mux = ServeMux::new();
    mux.handle_json("order:place", move |_ctx: TaskContext, order: Order| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(order);
            Ok(())
        }
    });
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(mux).await.expect("start");
    wait_for_state(&c, "default", "bad", "archived").await;
    server.shutdown().await;
    assert!(rx.try_recv().is_err(), "the handler never ran");
    let msg = task_msg(&c, "default", "bad").await;
    assert_eq!(msg.retried, 0, "no retry for a payload that cannot decode");
    assert!(
        msg.error_msg.contains(type_name::<Order>()),
        "the error names the Rust type: {}",
        msg.error_msg
    );
    assert!(
        msg.error_msg
            .contains("invalid type: string \"seven\", expected u64"),
        "the error has serde's reason: {}",
        msg.error_msg
    );
    assert!(
        msg.error_msg.ends_with(": skip retry for the task"),
        "{}",
        msg.error_msg
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WelcomeEmail {
    user_id: u64,
    locale: String,
}

impl TypedTask for WelcomeEmail {
    const TYPE: &'static str = "email:welcome";

    fn options(&self) -> Vec<TaskOption> {
        vec![TaskOption::queue("mail"), TaskOption::max_retry(3)]
    }
}

#[tokio::test]
async fn typed_tasks_share_their_type_between_producer_and_consumer() {
    let env = Env::start().await;
    let first = WelcomeEmail {
        user_id: 1,
        locale: "fr".into(),
    };
    let second = WelcomeEmail {
        user_id: 2,
        locale: "de".into(),
    };
    let info = env.client.enqueue_typed(&first).await.expect("enqueue");
    assert_eq!(info.task_type, "email:welcome");
    assert_eq!(info.queue, "mail", "the value's options apply");
    assert_eq!(info.max_retry, 3);
    assert_eq!(info.state, TaskState::Pending);
    assert_eq!(&info.payload[..], br#"{"user_id":1,"locale":"fr"}"#);
    let info = env
        .client
        .enqueue_typed_with(
            &second,
            [TaskOption::max_retry(9), TaskOption::task_id("w2")],
        )
        .await
        .expect("enqueue");
    assert_eq!(
        (info.id.as_str(), info.queue.as_str(), info.max_retry),
        ("w2", "mail", 9),
        "the call's options win"
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle_typed(move |_ctx: TaskContext, email: WelcomeEmail| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(email);
            Ok(())
        }
    });
    assert_eq!(mux.pattern_for(WelcomeEmail::TYPE), Some("email:welcome"));
    let server = Server::new(env.opt(), fast_config().queues([("mail", 1)]))
        .await
        .expect("server");
    server.start(mux).await.expect("start");
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    server.shutdown().await;
    got.sort_by_key(|e| e.user_id);
    assert_eq!(got, [first, second]);
}

/// Serializes to an error: a payload that cannot be encoded.
#[derive(Debug, Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("not today"))
    }
}

impl TypedTask for Unencodable {
    const TYPE: &'static str = "never";
}

#[tokio::test]
async fn a_value_that_cannot_be_encoded_is_an_invalid_option_and_writes_nothing() {
    let env = Env::start().await;
    let c = env.conn().await;
    let err = env
        .client
        .enqueue_typed(&Unencodable)
        .await
        .expect_err("cannot encode");
    assert!(err.is_invalid_option(), "{err:?}");
    assert!(err.to_string().contains("not today"), "{err}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("asynq:*")
        .query_async(&mut c.clone())
        .await
        .expect("KEYS");
    assert!(keys.is_empty(), "nothing written: {keys:?}");
}

// ---------------------------------------------------------------------------------------
// Go interop. A Go service enqueues with
//
//     type SignupEvent struct {
//         UserID    int64             `json:"user_id"`
//         Email     string            `json:"email"`
//         Bio       string            `json:"bio"`
//         Avatar    []byte            `json:"avatar"`
//         CreatedAt time.Time         `json:"created_at"`
//         Tags      []string          `json:"tags"`
//         Referrer  *string           `json:"referrer,omitempty"`
//         Score     float64           `json:"score"`
//         Attempts  int
//         Meta      map[string]string `json:"meta"`
//     }
//     payload, _ := json.Marshal(SignupEvent{
//         UserID: 9007199254740993, Email: "zoë@example.com",
//         Bio: "<b>Tom & Jerry</b>\u2028", Avatar: []byte{0, 1, 2, 253, 254, 255},
//         CreatedAt: time.Date(2024, 5, 1, 12, 30, 45, 123456789, time.UTC),
//         Score: 0.5, Attempts: 3, Meta: map[string]string{"b": "2", "a": "1"},
//     })
//     client.Enqueue(asynq.NewTask("user:signup", payload))
//
// `json.Marshal` writes compact JSON in field order, escapes `<`, `>`, `&`, U+2028 and U+2029
// as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`, writes other non-ASCII text as UTF-8,
// `[]byte` as standard base64, `time.Time` as RFC 3339 with nanoseconds, a nil slice as
// `null`, map keys sorted, an untagged field under its Go name, and omits an empty
// `omitempty` field.

const GO_SIGNUP_PAYLOAD: &[u8] = "{\"user_id\":9007199254740993,\"email\":\"zoë@example.com\",\
\"bio\":\"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e\\u2028\",\"avatar\":\"AAEC/f7/\",\
\"created_at\":\"2024-05-01T12:30:45.123456789Z\",\"tags\":null,\"score\":0.5,\"Attempts\":3,\
\"meta\":{\"a\":\"1\",\"b\":\"2\"}}"
    .as_bytes();

/// The Rust side of Go's `SignupEvent`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SignupEvent {
    user_id: i64,
    email: String,
    bio: String,
    #[serde(deserialize_with = "go_bytes")]
    avatar: Vec<u8>,
    #[serde(rename = "created_at", deserialize_with = "go_time")]
    created: chrono::DateTime<chrono::FixedOffset>,
    tags: Option<Vec<String>>,
    referrer: Option<String>,
    score: f64,
    #[serde(rename = "Attempts")]
    attempts: i32,
    meta: BTreeMap<String, String>,
}

/// Go's `[]byte`: standard base64 with padding, or `null` for a nil slice.
fn go_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom),
    }
}

/// Go's `time.Time`: RFC 3339 with up to nine fraction digits.
fn go_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<chrono::DateTime<chrono::FixedOffset>, D::Error> {
    let s = String::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)
}

#[tokio::test]
async fn a_payload_written_by_go_decodes_in_a_json_handler() {
    let env = Env::start().await;
    env.client
        .enqueue_with(
            &Task::new("user:signup", GO_SIGNUP_PAYLOAD),
            [TaskOption::task_id("go1")],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle_json(
        "user:signup",
        move |_ctx: TaskContext, event: SignupEvent| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event);
                Ok(())
            }
        },
    );
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(mux).await.expect("start");
    let event = recv(&mut rx).await;
    server.shutdown().await;

    let created =
        chrono::DateTime::parse_from_rfc3339("2024-05-01T12:30:45.123456789+00:00").expect("time");
    assert_eq!(
        event,
        SignupEvent {
            user_id: 9_007_199_254_740_993,
            email: "zoë@example.com".into(),
            bio: "<b>Tom & Jerry</b>\u{2028}".into(),
            avatar: vec![0, 1, 2, 253, 254, 255],
            created,
            tags: None,
            referrer: None,
            score: 0.5,
            attempts: 3,
            meta: [("a", "1"), ("b", "2")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    );
    assert_eq!(
        chrono::Timelike::nanosecond(&event.created),
        123_456_789,
        "nanoseconds survive"
    );
}

/// What a Go consumer declares as
/// `struct { UserID int64 `json:"user_id"`; Name string `json:"name"`; Tags []string `json:"tags"`; Active bool `json:"active"` }`.
#[derive(Serialize)]
struct ForGo<'a> {
    user_id: i64,
    name: &'a str,
    tags: &'a [&'a str],
    active: bool,
}

#[test]
fn task_json_writes_compact_utf8_that_go_reads() {
    let task = Task::json(
        "user:notify",
        &ForGo {
            user_id: -42,
            name: "Zoë <admin> & \"co\"\n",
            tags: &["a", "b"],
            active: true,
        },
    )
    .expect("encodes");
    // Go's json.Unmarshal accepts raw `<`, `>`, `&` and UTF-8; escaping them is only
    // json.Marshal's HTML-safety default, not a requirement of the reader.
    assert_eq!(
        task.payload(),
        "{\"user_id\":-42,\"name\":\"Zoë <admin> & \\\"co\\\"\\n\",\"tags\":[\"a\",\"b\"],\"active\":true}"
            .as_bytes()
    );
    assert!(std::str::from_utf8(task.payload()).is_ok());
    assert_eq!(task.task_type(), "user:notify");
}

#[test]
fn go_payload_constant_is_what_json_marshal_writes() {
    // Guards the literal above against edits: compact, HTML-escaped, sorted map keys.
    let text = std::str::from_utf8(GO_SIGNUP_PAYLOAD).expect("utf-8");
    assert!(!text.contains(": ") && !text.contains(", "), "compact");
    assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
    assert!(text.contains("\\u2028"));
    let _: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
}

#[tokio::test]
async fn the_typed_handler_ignores_longer_types() {
    // `handle_typed` matches exactly; a prefix handler picks up the rest.
    let mut mux = ServeMux::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    let t1 = tx.clone();
    mux.handle_typed(move |_ctx: TaskContext, _e: WelcomeEmail| {
        let tx = t1.clone();
        async move {
            let _ = tx.send("typed");
            Ok(())
        }
    });
    mux.handle("email:", move |_ctx: TaskContext, _t: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send("prefix");
            Ok(())
        }
    });
    let ctx = || TaskContext::detached("id", "default", std::time::SystemTime::now());
    let email = WelcomeEmail {
        user_id: 1,
        locale: "en".into(),
    };
    use redisq::Handler as _;
    mux.process_task(ctx(), Task::from_typed(&email).expect("json"))
        .await
        .expect("ok");
    mux.process_task(ctx(), Task::json("email:welcome:v2", &email).expect("json"))
        .await
        .expect("ok");
    assert_eq!(recv(&mut rx).await, "typed");
    assert_eq!(recv(&mut rx).await, "prefix");
}
