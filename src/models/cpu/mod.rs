//! CPU kernels: the hand-written f32 and int8 loops that the dense layers and the attention run
//! on the CPU instead of candle's generic ops.
//!
//! Each kernel comes in versions per instruction set, and the version is chosen at run time from
//! what the CPU reports (`is_x86_feature_detected!`), never at compile time, so one binary runs
//! everywhere. [`isa::Isa::active`] is the family in use (`COPYDESK_KERNELS` forces a lower one,
//! for tests and comparisons); packed weights keep the family they were packed for.
//!
//! - [`packed`]: dense layers `y = x · Wᵀ + b` with the weight packed into panels when the model
//!   loads: AVX-512, or AVX2 + FMA on the same panels. With portable kernels the layer keeps its
//!   tensor (candle's GEMM).
//! - [`quant`]: 8-bit dense layers (`--dtype q8`), on the same panel driver: AVX-512 VNNI,
//!   AVX-VNNI, plain AVX2, or a portable loop over the same layout.
//! - [`kernels`]: dense layers on the checkpoint's own row-major weight for few rows of `x`
//!   (decode steps with portable kernels), and the softmax normalizer [`kernels::sum_exp`]:
//!   AVX2 + FMA, or portable loops.
//! - `attention`: multi-head attention on slices (behind [`super::attention`]): its loops compiled
//!   for AVX2 + FMA, or as plain Rust.
//!
//! The `unsafe` here is of two kinds: calling a `#[target_feature]` function, which is sound once
//! the feature has been detected, and reading or writing through raw pointers, which each
//! function's `# Safety` section bounds by slice lengths the callers check.

pub(super) mod attention;
pub mod isa;
pub mod kernels;
pub mod packed;
pub mod quant;
