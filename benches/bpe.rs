//! The byte-level BPE tokenizer on tiny-shakespeare (1,115,394 bytes): learning a 1,000-token
//! vocabulary from it (`train_1000`), and encoding all of it with that vocabulary (`encode_1000`,
//! one call, so the word cache starts empty) and decoding the ids back (`decode_1000`).
//!
//! Throughput is in bytes of text. Run with `cargo bench --bench bpe`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gradlab::data::BUILTIN_TEXTS;
use gradlab::tokenizer::BpeTokenizer;

fn bpe(c: &mut Criterion) {
    let text = BUILTIN_TEXTS[0].text;
    let tok = BpeTokenizer::train(text, 1000).unwrap();
    let ids = tok.encode(text);
    assert_eq!(tok.decode(&ids).unwrap(), text);
    eprintln!("tiny-shakespeare: {} bytes, {} tokens with a 1,000-token vocabulary", text.len(), ids.len());

    let mut group = c.benchmark_group("bpe_tinyshakespeare");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("train_1000", |b| b.iter(|| black_box(BpeTokenizer::train(black_box(text), 1000).unwrap())));
    group.bench_function("encode_1000", |b| b.iter(|| black_box(tok.encode(black_box(text)))));
    group.bench_function("decode_1000", |b| b.iter(|| black_box(tok.decode(black_box(&ids)).unwrap())));
    group.finish();
}

criterion_group!(benches, bpe);
criterion_main!(benches);
