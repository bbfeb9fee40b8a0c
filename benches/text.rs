//! Text throughput in bytes/s: tokenizing the sample articles (source side of the translator) and
//! segmenting them into headline, dateline, blocks and sentences. Tiny fixture tokenizer by
//! default; `COPYDESK_BENCH_MODEL` selects another model's. `cargo bench --bench text`.

use copydesk::bench::subjects::BenchSubjects;
use copydesk::bench::workload::SAMPLE_ARTICLES;
use copydesk::text::segment;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_text(c: &mut Criterion) {
    let subjects = BenchSubjects::from_env().expect("bench models");
    let tokenizer = subjects.load_translator().expect("translator").tokenizer;
    let bytes: usize = SAMPLE_ARTICLES.iter().map(|(_, t)| t.len()).sum();
    let sentences: Vec<String> = SAMPLE_ARTICLES
        .iter()
        .flat_map(|(_, t)| {
            segment(t)
                .sentences()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let sentence_bytes: usize = sentences.iter().map(String::len).sum();
    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Bytes(sentence_bytes as u64));
    g.bench_function("tokenize_sentences", |b| {
        b.iter(|| {
            sentences
                .iter()
                .map(|s| tokenizer.encode(s).expect("encode").len())
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("segment_articles", |b| {
        b.iter(|| {
            SAMPLE_ARTICLES
                .iter()
                .map(|(_, t)| segment(t).sentences().count())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_text);
criterion_main!(benches);
