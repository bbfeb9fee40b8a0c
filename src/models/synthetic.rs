//! Seeded random weights for any architecture, built in-process (no download): every tensor a
//! model asks for is drawn from a generator seeded by the global seed and the tensor's name, so
//! two machines build bit-identical models. Used by benches and synthetic full-size models.
//! Biases are zero and layer-norm scales one, so activations keep a sane scale.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

/// A weight source that invents tensors: normal(0, `std`) values, or the constant an
/// initialisation hint asks for (layer-norm scales are ones, biases zeros).
#[derive(Debug, Clone, Copy)]
pub struct SeededWeights {
    pub seed: u64,
    pub std: f32,
}

impl SeededWeights {
    pub fn var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }
}

/// splitmix64: small, fast, and the same everywhere.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn name_hash(name: &str) -> u64 {
    // FNV-1a, stable across platforms and Rust versions.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// `n` normal(0, std) values from a seed (Box-Muller on splitmix64 uniforms).
pub fn seeded_normal(seed: u64, n: usize, std: f32) -> Vec<f32> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = ((splitmix(&mut state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        out.push((r * theta.cos()) as f32 * std);
        out.push((r * theta.sin()) as f32 * std);
    }
    out.truncate(n);
    out
}

impl SimpleBackend for SeededWeights {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let n = s.elem_count();
        // Loaders ask for most tensors without a hint (`Const(0)`): only explicit non-zero
        // constants (layer-norm scales) and biases are constant, everything else is random.
        let data = match h {
            Init::Const(c) if c != 0.0 => vec![c as f32; n],
            _ if name.ends_with("bias") => vec![0.0; n],
            _ => seeded_normal(self.seed ^ name_hash(name), n, self.std),
        };
        Tensor::from_vec(data, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        Err(candle_core::Error::Msg(format!(
            "synthetic weights need a shape for {name}"
        )))
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_different_names_differ() {
        let w = SeededWeights { seed: 7, std: 0.5 };
        let vb = w.var_builder(DType::F32, &Device::Cpu);
        let get = |name: &str| -> Vec<f32> {
            let t = vb.get((4, 3), name).unwrap();
            t.flatten_all().unwrap().to_vec1().unwrap()
        };
        let (a, b, c) = (get("x.weight"), get("x.weight"), get("y.weight"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let big = seeded_normal(1, 20000, 1.0);
        let mean: f32 = big.iter().sum::<f32>() / big.len() as f32;
        let var: f32 = big.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / big.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
