//! Entry points for the criterion micro-benchmarks (`benches/`), which can only call public
//! items. Not part of the API.

use crate::rdb::keys::Keys;
use crate::rdb::proto::{TaskMessage, decode_task_message, encode_task_message};

/// A task message like the client writes, with a payload of `payload_len` bytes and
/// `headers` headers.
#[derive(Clone, Debug)]
pub struct SampleMessage(TaskMessage);

impl SampleMessage {
    /// Builds the sample.
    pub fn new(payload_len: usize, headers: usize) -> Self {
        SampleMessage(TaskMessage {
            r#type: "email:welcome".into(),
            payload: vec![b'x'; payload_len].into(),
            id: "0b5d8c8e-6d8f-4a59-9a4e-3f0c2b1d4e5f".into(),
            queue: "default".into(),
            retry: 25,
            timeout: 1800,
            headers: (0..headers)
                .map(|i| (format!("header-{i}"), format!("value-{i}")))
                .collect(),
            ..Default::default()
        })
    }

    /// Encodes it exactly as asynq does.
    pub fn encode(&self) -> Vec<u8> {
        encode_task_message(&self.0)
    }
}

/// Decodes a task message; true when it decoded.
pub fn decode(bytes: &[u8]) -> bool {
    decode_task_message(bytes).is_ok()
}

/// Builds the keys one enqueue and one dequeue touch.
pub fn hot_path_keys(namespace: &str, queue: &str, id: &str, payload: &[u8]) -> usize {
    let keys = Keys::new(namespace);
    let q = keys.queue(queue);
    q.task(id).len()
        + q.pending().len()
        + q.active().len()
        + q.lease().len()
        + q.unique("email:welcome", Some(payload)).len()
}
