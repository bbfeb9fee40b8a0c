//! Profiling aid: time `kernels::matmul_xwt` against candle's matmul on the output projection
//! shape. `cargo run --release --example kernel_speed -- [rows]`.

use std::time::Instant;

use candle_core::{Device, Tensor};
use copydesk::models::kernels::matmul_xwt;

fn main() {
    let m: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let (k, n) = (512, 67028);
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i % 97) as f32 - 48.0) * 1e-3)
        .collect();
    let x: Vec<f32> = (0..m * k).map(|i| ((i % 13) as f32 - 6.0) * 1e-2).collect();
    for _ in 0..3 {
        let t = Instant::now();
        let y = matmul_xwt(&x, &w, None, m, k, n);
        let s = t.elapsed().as_secs_f64();
        println!(
            "kernel m={m}: {:.2} ms ({:.1} GB/s weights, {:.1} GFLOP/s) {}",
            s * 1e3,
            (n * k * 4) as f64 / s / 1e9,
            (2 * m * n * k) as f64 / s / 1e9,
            y[0]
        );
    }
    let wt = Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap();
    let xt = Tensor::from_vec(x, (m, k), &Device::Cpu).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let y = xt.matmul(&wt.t().unwrap()).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!("candle m={m}: {:.2} ms {:?}", s * 1e3, y.dims());
    }
}
