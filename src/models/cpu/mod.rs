//! CPU kernels: the hand-written f32 and int8 loops that the dense layers and the attention run
//! on the CPU instead of candle's generic ops.
//!
//! Each kernel comes in versions per instruction set, and the version is chosen at run time from
//! what the CPU reports (`is_x86_feature_detected!`), never at compile time, so one binary runs
//! everywhere:
//!
//! - [`packed`]: dense layers `y = x · Wᵀ + b` with the weight packed into panels when the model
//!   loads. AVX-512 only; [`packed::PackedF32::new`] declines on other CPUs and the layer keeps
//!   its tensor.
//! - [`quant`]: 8-bit dense layers (`--dtype q8`), on the same panel driver: AVX-512 VNNI, or a
//!   portable loop over the same layout.
//! - [`kernels`]: dense layers on the checkpoint's own row-major weight for few rows of `x`
//!   (decode steps on CPUs without AVX-512), and the softmax normalizer [`kernels::sum_exp`]:
//!   AVX2 + FMA, or portable loops.
//! - `attention`: multi-head attention on slices (behind [`super::attention`]): its loops compiled
//!   for AVX2 + FMA, or as plain Rust.
//!
//! The `unsafe` here is of two kinds: calling a `#[target_feature]` function, which is sound once
//! the feature has been detected, and reading or writing through raw pointers, which each
//! function's `# Safety` section bounds by slice lengths the callers check.

pub(super) mod attention;
pub mod kernels;
pub mod packed;
pub mod quant;
