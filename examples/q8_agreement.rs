//! How closely 8-bit weights (`--dtype q8`) follow f32 on a synthetic model's token workload
//! (the same seeded weights and ids as `copydesk bench`), greedy:
//! `cargo run --release --example q8_agreement -- [opus-mt-nl-en|flan-t5-small] [wire|summ]`.

use candle_core::{DType, Device};
use copydesk::bench::agreement::Agreement;
use copydesk::bench::synthetic::SyntheticSpec;
use copydesk::bench::workload::{generation_config, TokenWorkload, Workload};
use copydesk::engine::run_batch;
use copydesk::service::loader::quantize;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("opus-mt-nl-en", String::as_str);
    let workload = match args.get(1).map_or("wire", String::as_str) {
        "summ" => Workload::Summ,
        _ => Workload::Wire,
    };
    let spec = SyntheticSpec::find(name).expect("synthetic model");
    let reference = spec
        .build(DType::F32, &Device::Cpu, None)
        .expect("f32 model");
    let mut q8 = spec.build(DType::F32, &Device::Cpu, None).expect("model");
    quantize(&mut q8.model).expect("quantize");
    let special = reference.model.special_tokens();
    let shape = workload.shape().expect("token workload");
    let work = TokenWorkload::generate(&shape, workload, spec.tokenizer_vocab, &special)
        .expect("workload");
    let gen = generation_config(&spec.generation().expect("generation"), 1, work.new_tokens);
    let decode = |model: &dyn copydesk::models::Seq2Seq| -> Vec<Vec<u32>> {
        work.inputs
            .chunks(32)
            .flat_map(|chunk| {
                let refs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
                run_batch(model, &refs, &gen).expect("decode")
            })
            .map(|h| h.tokens)
            .collect()
    };
    let a = Agreement::of(
        &decode(reference.model.as_ref()),
        &decode(q8.model.as_ref()),
    );
    println!("{name} {}: q8 vs f32 greedy: {a}", workload.as_str());
}
