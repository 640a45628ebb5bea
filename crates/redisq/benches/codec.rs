//! Micro-benchmarks of the wire codec and key building (`cargo bench -p redisq`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use redisq::bench_support::{SampleMessage, decode, hot_path_keys};

fn codec(c: &mut Criterion) {
    for (payload, headers) in [(100, 0), (1024, 0), (100, 4)] {
        let msg = SampleMessage::new(payload, headers);
        let bytes = msg.encode();
        c.bench_function(
            &format!("encode {payload}B payload, {headers} headers"),
            |b| b.iter(|| black_box(msg.encode())),
        );
        c.bench_function(
            &format!("decode {payload}B payload, {headers} headers"),
            |b| b.iter(|| black_box(decode(black_box(&bytes)))),
        );
    }
}

fn keys(c: &mut Criterion) {
    let payload = vec![b'x'; 100];
    c.bench_function("hot-path keys incl. unique md5 (100B payload)", |b| {
        b.iter(|| {
            black_box(hot_path_keys(
                "asynq",
                "default",
                "0b5d8c8e",
                black_box(&payload),
            ))
        })
    });
}

criterion_group!(benches, codec, keys);
criterion_main!(benches);
