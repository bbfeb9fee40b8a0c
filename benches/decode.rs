//! Decoding throughput on the synthetic opus-mt-nl-en (its exact shape, seeded random weights
//! built in-process, no download): batch-1 and batch-32 greedy decodes of exactly 40 new tokens
//! over the wire workload's 20–60-token sources, through the engine's batch path.
//! `cargo bench --bench decode`; tokens/s = 40 × batch / time. `copydesk bench` times the whole
//! workload with a report.

use candle_core::{DType, Device};
use copydesk::bench::synthetic::SyntheticSpec;
use copydesk::bench::workload::{generation_config, TokenWorkload, Workload};
use copydesk::engine::run_batch;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench_decode(c: &mut Criterion) {
    let spec = SyntheticSpec::find("opus-mt-nl-en").expect("spec");
    let built = spec.build(DType::F32, &Device::Cpu, None).expect("model");
    let model = built.model.as_ref();
    let shape = Workload::Wire.shape().expect("token workload");
    let work = TokenWorkload::generate(
        &shape,
        Workload::Wire,
        spec.tokenizer_vocab,
        &model.special_tokens(),
    )
    .expect("inputs");
    let gen = generation_config(&built.generation, 1, work.new_tokens);
    let mut group = c.benchmark_group("marian_opus_mt_shape_greedy_40_tokens");
    group.sample_size(10);
    for batch in [1usize, 32] {
        let refs: Vec<&[u32]> = work.inputs.iter().take(batch).map(Vec::as_slice).collect();
        group.throughput(Throughput::Elements((batch * work.new_tokens) as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &refs, |b, refs| {
            b.iter(|| run_batch(model, refs, &gen).expect("decode"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
