//! End to end through `Service`, as the server and the command line run it: every sample article
//! segmented, translated in shared batches and summarized. Tiny fixture models by default;
//! `COPYDESK_BENCH_MODEL` / `COPYDESK_BENCH_SUMMARIZER` (`synthetic:NAME` allowed) for others.
//! `cargo bench --bench service`.

use copydesk::bench::subjects::BenchSubjects;
use copydesk::bench::workload::SAMPLE_ARTICLES;
use copydesk::service::{ArticleOptions, DecodeOptions, Service, ServiceConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_service(c: &mut Criterion) {
    let subjects = BenchSubjects::from_env().expect("bench models");
    let service = Service::start(&ServiceConfig {
        translator: Some(subjects.translator.clone()),
        summarizer: Some(subjects.summarizer.clone()),
        ..ServiceConfig::default()
    })
    .expect("service");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Random weights rarely emit eos: cap the output so a run stays short.
    let opts = ArticleOptions {
        summarize: true,
        decode: DecodeOptions {
            beams: Some(1),
            max_new_tokens: Some(32),
            ..DecodeOptions::default()
        },
        ..ArticleOptions::default()
    };
    let bytes: usize = SAMPLE_ARTICLES.iter().map(|(_, t)| t.len()).sum();
    let mut g = c.benchmark_group("service");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("article_samples", |b| {
        b.iter(|| {
            rt.block_on(async {
                for (_, text) in SAMPLE_ARTICLES {
                    service.article(text, &opts).await.expect("article");
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_service);
criterion_main!(benches);
