//! Profiling aid: time the dense kernels (`kernels::matmul_xwt`, the packed AVX-512 kernel, the
//! 8-bit kernel) against
//! candle's matmul. `cargo run --release --example kernel_speed -- [rows] [k] [n]` (default: the
//! 512 × 67028 output projection).

use std::time::Instant;

use candle_core::{Device, Tensor};
use copydesk::models::cpu::kernels::matmul_xwt;
use copydesk::models::cpu::packed::PackedF32;
use copydesk::models::cpu::quant::QuantI8;

fn report(name: &str, m: usize, k: usize, n: usize, run: &mut dyn FnMut() -> f32) {
    let mut best = f64::MAX;
    let mut probe = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        probe = run();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{name:>8} m={m}: {:.3} ms ({:.1} GB/s weights, {:.1} GFLOP/s) {probe}",
        best * 1e3,
        (n * k * 4) as f64 / best / 1e9,
        (2 * m * n * k) as f64 / best / 1e9,
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let m = args.first().copied().unwrap_or(1);
    let k = args.get(1).copied().unwrap_or(512);
    let n = args.get(2).copied().unwrap_or(67028);
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i % 97) as f32 - 48.0) * 1e-3)
        .collect();
    let x: Vec<f32> = (0..m * k).map(|i| ((i % 13) as f32 - 6.0) * 1e-2).collect();
    report("kernel", m, k, n, &mut || {
        matmul_xwt(&x, &w, None, m, k, n)[0]
    });
    if let Some(p) = PackedF32::new(&w, n, k) {
        // From inside rayon's pool, as the engine calls it.
        rayon::scope(|_| report("packed", m, k, n, &mut || p.matmul(&x, m, None)[0]));
    }
    let q = QuantI8::new(&w, n, k);
    rayon::scope(|_| report("q8", m, k, n, &mut || q.matmul(&x, m, None)[0]));
    let wt = Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap();
    let xt = Tensor::from_vec(x, (m, k), &Device::Cpu).unwrap();
    report("candle", m, k, n, &mut || {
        let y = xt.matmul(&wt.t().unwrap()).unwrap();
        y.flatten_all()
            .unwrap()
            .get(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    });
}
