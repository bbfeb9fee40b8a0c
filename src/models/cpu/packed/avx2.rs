//! The packed f32 kernel on AVX2 + FMA: the AVX-512 panels walked 16 columns at a time.

use std::arch::x86_64::*;

use super::{OutPtr, PackedF32, MR, MR2, NR};

/// Runs every panel of `panels` against the tiles of `rows` (from [`super::tile_rows`]).
///
/// # Safety
/// The CPU must support AVX2 and FMA, and the arguments must meet [`super::Kernel::block`]'s
/// contract for `w`: `x` is `w`'s packing of `m` rows, `rows` inside `0..m` starting at a
/// multiple of [`MR`], `panels` inside `w`'s panels, a bias of `w.n` values, and `out` a buffer
/// of `m × w.n` f32 whose `rows` × `panels` block only this call touches.
pub(super) unsafe fn block(
    w: &PackedF32,
    x: &[f32],
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: OutPtr,
    bias: Option<&[f32]>,
) {
    let k = w.k;
    let half_panels = w.data.len() / (2 * k).max(1) * 2;
    // Blocks in a pass over a half-panel: the same for every half-panel of this call.
    let calls = blocks_in(&rows, MR2);
    for p in panels {
        // SAFETY: p < panel_count, and `data` holds 2·k `Lanes` (k·NR f32) per panel.
        let panel = unsafe { w.data.as_ptr().add(p * k * 2) } as *const f32;
        let cols = NR.min(w.n - p * NR);
        // Half-panel outside, tiles inside: a half-panel (k × 16 f32) stays in cache (L1 for
        // k ≤ 256, else L2) while every tile of the chunk runs over it.
        for half in 0..cols.div_ceil(16) {
            let half_cols = 16.min(cols - half * 16);
            // The half-panel after this one (halves are contiguous), when there is one.
            let next = (p * 2 + half + 1 < half_panels).then(|| {
                // SAFETY: half-panel p·2 + half + 1 < half_panels starts inside the data.
                unsafe { panel.add((half + 1) * 16 * k) as *const i8 }
            });
            let mut call = 0;
            for t in 0..rows.len().div_ceil(MR) {
                let r_tile = rows.start + t * MR;
                let mr = MR.min(rows.end - r_tile);
                // SAFETY: the tile starts at row r_tile < rows.end, inside `x`.
                let xt = unsafe { x.as_ptr().add(k * r_tile) };
                for (r0, rn) in row_blocks(mr, MR2) {
                    // The next half-panel's k cache lines, shared out between the blocks.
                    let ahead = Ahead::share(next, k, (call, calls), k);
                    call += 1;
                    let args = Block {
                        // SAFETY: r0 < mr: the tile's element (0, r0).
                        x: unsafe { xt.add(r0) },
                        x_stride: mr,
                        // SAFETY: half < 2: the half's k × 16 values follow the first half's.
                        panel: unsafe { panel.add(half * 16 * k) },
                        k,
                        dst: out.at((r_tile + r0) * w.n + p * NR + half * 16),
                        ldo: w.n,
                        cols: half_cols,
                        // SAFETY: p·NR + half·16 < n, the bias's length.
                        bias: bias.map(|b| unsafe { b.as_ptr().add(p * NR + half * 16) }),
                        ahead,
                    };
                    // SAFETY: AVX2 and FMA (this function's contract); `args` meets `kernel`'s
                    // contract for R = rn: rows r0..r0 + rn of the tile (mr rows, k-major, so
                    // element (kk, r) is at kk·mr + r), the half-panel `half` of panel p (k rows
                    // of 16 f32, contiguous and 64-byte aligned: AVX2 packing), `half_cols`
                    // (1..=16) of them valid, and the output rows r_tile + r0.. of this call's
                    // block.
                    unsafe { with_rows(rn, args) }
                }
            }
        }
    }
}

/// Splits `rows` into the fewest blocks of at most `most` rows, as even as possible (8 rows in
/// blocks of 6 are 4 + 4, not 6 + 2: the panel loads are shared by more rows): `(first, len)`.
pub(crate) fn row_blocks(rows: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = rows.div_ceil(most).max(1);
    let (base, extra) = (rows / blocks, rows % blocks);
    (0..blocks).scan(0, move |start, b| {
        let len = base + usize::from(b < extra);
        let first = *start;
        *start += len;
        Some((first, len))
    })
}

/// `kernel::<R, AHEAD>` for `R = rows` (1..=[`MR2`]), with the prefetch step compiled in only
/// for blocks that prefetch (a test per `k` costs the f32 loop ~10%: measured, wire b8/b32).
///
/// # Safety
/// As `kernel`.
#[target_feature(enable = "avx2,fma")]
unsafe fn with_rows(rows: usize, b: Block) {
    // SAFETY: passed on unchanged.
    unsafe {
        if b.ahead.fetches() {
            rows_of::<true>(rows, b)
        } else {
            rows_of::<false>(rows, b)
        }
    }
}

/// # Safety
/// As `kernel`.
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const AHEAD: bool>(rows: usize, b: Block) {
    // SAFETY: passed on unchanged.
    unsafe {
        match rows {
            1 => kernel::<1, AHEAD>(b),
            2 => kernel::<2, AHEAD>(b),
            3 => kernel::<3, AHEAD>(b),
            4 => kernel::<4, AHEAD>(b),
            5 => kernel::<5, AHEAD>(b),
            _ => kernel::<MR2, AHEAD>(b),
        }
    }
}

/// Operands of one block: `R` rows of a tile against 16 columns of a panel.
struct Block {
    /// Element (0, first row) of the tile; element (kk, r) at `kk · x_stride + r`.
    x: *const f32,
    x_stride: usize,
    /// Row 0 of a half-panel; row kk at `kk · 16`, 64-byte aligned.
    panel: *const f32,
    k: usize,
    dst: *mut f32,
    ldo: usize,
    /// Valid columns of the 16.
    cols: usize,
    bias: Option<*const f32>,
    /// Cache lines of the next half-panel to prefetch.
    ahead: Ahead,
}

/// How many blocks of at most `most` rows the tiles of `rows` split into.
pub(crate) fn blocks_in(rows: &std::ops::Range<usize>, most: usize) -> usize {
    (0..rows.len().div_ceil(MR))
        .map(|t| row_blocks(MR.min(rows.len() - t * MR), most).count())
        .sum()
}

/// The cache lines of the next panel that one block prefetches while it runs.
///
/// Decode steps stream every weight from DRAM, and the hardware prefetcher alone leaves a pass
/// over a panel waiting on it in the pass's first block: so the blocks of a pass share out the
/// next panel's lines and fetch them (into L2) as they go. A pass of one block has nothing to
/// hide the fetch behind and fetches nothing.
#[derive(Clone, Copy)]
pub(crate) struct Ahead {
    first: *const i8,
    count: usize,
    /// Loop steps between two prefetches.
    every: usize,
}

impl Ahead {
    const NONE: Ahead = Ahead {
        first: std::ptr::null(),
        count: 0,
        every: 1,
    };

    /// Block `call.0` of `call.1` in a pass of `steps` loop steps: its share of the `lines`
    /// cache lines from `next` (the next panel, if there is one).
    pub(crate) fn share(
        next: Option<*const i8>,
        lines: usize,
        call: (usize, usize),
        steps: usize,
    ) -> Ahead {
        let (call, calls) = call;
        match next {
            Some(next) if calls > 1 => {
                let (from, to) = (call * lines / calls, (call + 1) * lines / calls);
                Ahead {
                    first: next.wrapping_add(from * 64),
                    count: to - from,
                    every: (steps / (to - from).max(1)).max(1),
                }
            }
            _ => Ahead::NONE,
        }
    }

    /// Whether the block fetches anything.
    pub(crate) fn fetches(&self) -> bool {
        self.count > 0
    }

    /// The prefetches of one block, issued by [`Prefetches::step`] once per loop step.
    pub(crate) fn start(self) -> Prefetches {
        Prefetches {
            ahead: self,
            fetched: 0,
            due: 0,
        }
    }
}

/// A block's prefetches in progress.
pub(crate) struct Prefetches {
    ahead: Ahead,
    fetched: usize,
    due: usize,
}

impl Prefetches {
    /// Loop step `i` (counted from 0, every step once): fetches the next line when it is due.
    /// (For the AVX2 kernels, which inline it.)
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn step(&mut self, i: usize) {
        if self.fetched < self.ahead.count && i == self.due {
            // A prefetch never faults; the address lies inside the packed data anyway.
            _mm_prefetch::<_MM_HINT_T1>(self.ahead.first.wrapping_add(self.fetched * 64));
            self.fetched += 1;
            self.due += self.ahead.every;
        }
    }
}

/// Lanes `0..cols` of an 8-lane half starting at lane `from`, as a `maskload`/`maskstore` mask.
#[target_feature(enable = "avx2")]
fn lane_mask(cols: usize, from: usize) -> __m256i {
    let valid = cols.saturating_sub(from).min(8) as i32;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(valid),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// The `R × 16` product of a block, plus bias, stored to `b.dst`.
///
/// # Safety
/// - The CPU must support AVX2 and FMA.
/// - `b.x + kk · b.x_stride + r` must be readable for every `kk < b.k`, `r < R`; `b.panel +
///   kk · 16` must be readable for 16 f32 and 32-byte aligned for every `kk < b.k`.
/// - `b.cols` must be in `1..=16`; `b.bias`, when given, readable for `b.cols` f32.
/// - For each `r < R`, `b.dst + r · b.ldo` must be valid for writes of `b.cols` f32 that no
///   other thread reads or writes during the call.
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel<const R: usize, const AHEAD: bool>(b: Block) {
    debug_assert!(
        (b.panel as usize).is_multiple_of(32),
        "panel not 32-byte aligned"
    );
    debug_assert!((1..=16).contains(&b.cols), "{} columns", b.cols);
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    let mut prefetches = b.ahead.start();
    for kk in 0..b.k {
        if AHEAD {
            prefetches.step(kk);
        }
        // SAFETY: kk < k: 16 f32 of the panel's row kk (aligned), R values of the tile's row.
        let (w0, w1, xr) = unsafe {
            (
                _mm256_load_ps(b.panel.add(kk * 16)),
                _mm256_load_ps(b.panel.add(kk * 16 + 8)),
                b.x.add(kk * b.x_stride),
            )
        };
        for r in 0..R {
            // SAFETY: r < R, inside the tile's row kk.
            let xv = _mm256_set1_ps(unsafe { *xr.add(r) });
            lo[r] = _mm256_fmadd_ps(xv, w0, lo[r]);
            hi[r] = _mm256_fmadd_ps(xv, w1, hi[r]);
        }
    }
    let (m0, m1) = (lane_mask(b.cols, 0), lane_mask(b.cols, 8));
    let (b0, b1) = match b.bias {
        // SAFETY: the masks enable only the first `cols` lanes, which the bias holds; masked-off
        // lanes are not read (so the address of the second half may lie past the end).
        Some(p) => unsafe {
            (
                _mm256_maskload_ps(p, m0),
                _mm256_maskload_ps(p.wrapping_add(8), m1),
            )
        },
        None => (_mm256_setzero_ps(), _mm256_setzero_ps()),
    };
    for r in 0..R {
        let d = b.dst.wrapping_add(r * b.ldo);
        let (y0, y1) = (_mm256_add_ps(lo[r], b0), _mm256_add_ps(hi[r], b1));
        // SAFETY: row r < R of the block: its first `cols` elements are valid and this call's
        // alone; (m0, m1) are `lane_mask(cols, 0)` and `lane_mask(cols, 8)`.
        unsafe { store16(d, b.cols, (m0, m1), (y0, y1)) }
    }
}

/// Stores the first `cols` (1..=16) of the 16 values `y` (two halves of 8) at `d`: plain
/// stores for all 16 (a masked store is microcoded and slow on AMD CPUs, so only a panel's
/// tail takes it), else the masks `m` (`lane_mask(cols, 0)`, `lane_mask(cols, 8)`).
///
/// # Safety
/// The CPU must support AVX2; `d` must be valid for writes of `cols` f32.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn store16(d: *mut f32, cols: usize, m: (__m256i, __m256i), y: (__m256, __m256)) {
    if cols == 16 {
        // SAFETY: 16 f32 at d are valid (the contract).
        unsafe {
            _mm256_storeu_ps(d, y.0);
            _mm256_storeu_ps(d.add(8), y.1);
        }
    } else {
        // SAFETY: the masks enable the first `cols` lanes, valid (the contract); masked-off
        // lanes are not written.
        unsafe {
            _mm256_maskstore_ps(d, m.0, y.0);
            _mm256_maskstore_ps(d.wrapping_add(8), m.1, y.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::row_blocks;

    #[test]
    fn row_blocks_are_even_and_cover_every_row() {
        let b = |rows, most| row_blocks(rows, most).collect::<Vec<_>>();
        assert_eq!(b(8, 6), [(0, 4), (4, 4)]);
        assert_eq!(b(12, 6), [(0, 6), (6, 6)]);
        assert_eq!(b(7, 6), [(0, 4), (4, 3)]);
        assert_eq!(b(5, 6), [(0, 5)]);
        assert_eq!(b(9, 4), [(0, 3), (3, 3), (6, 3)]);
    }
}
