//! The CPU attention kernel and caches against candle's ops on `(B, H, T, Dh)` tensors.

use candle_core::{DType, Device, Tensor};

use super::*;
use crate::models::{causal_mask, padding_mask};

const TOL: f32 = 1e-5;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    // A small deterministic generator, so failures reproduce.
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// candle's ops on split heads: the path other devices take.
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, bias: Option<&Tensor>) -> Tensor {
    let split = |x: &Tensor| split_heads(x, heads).unwrap();
    merge_heads(&attend(&split(q), &split(k), &split(v), bias).unwrap()).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `(B, S)` mask of ones with the last `pad[b]` positions of row `b` zero.
fn lengths_mask(s: usize, pad: &[usize]) -> Tensor {
    let m: Vec<u32> = pad
        .iter()
        .flat_map(|&p| (0..s).map(move |j| u32::from(j < s - p)))
        .collect();
    Tensor::from_vec(m, (pad.len(), s), &Device::Cpu).unwrap()
}

#[test]
fn multi_head_matches_candle_for_odd_shapes_and_biases() {
    let dev = Device::Cpu;
    // (batch, tq, tk, heads, dh): odd sizes, a head width that is not a multiple of 8, and one
    // shape large enough for the parallel path.
    for (b, tq, tk, h, dh) in [
        (1, 1, 1, 1, 1),
        (3, 5, 7, 3, 5),
        (2, 1, 9, 2, 13),
        (4, 20, 30, 4, 16),
        (2, 3, 41, 2, 64),
        // Blocks of 4 queries, 64-key blocks and every tail: 16, 8 and single keys.
        (2, 9, 155, 3, 64),
    ] {
        let d = h * dh;
        let q = randn(&[b, tq, d], 1);
        let k = randn(&[b, tk, d], 2);
        let v = randn(&[b, tk, d], 3);
        let pad: Vec<usize> = (0..b).map(|i| i % tk.max(1)).collect();
        let mask = padding_mask(&lengths_mask(tk, &pad), DType::F32).unwrap();
        let position = randn(&[1, h, tq, tk], 4);
        let full = randn(&[b, h, tq, tk], 5);
        let causal = causal_mask(tq, tk - tq.min(tk), DType::F32, &dev).unwrap();
        let biases: Vec<Option<Tensor>> = vec![
            None,
            Some(mask.clone()),
            Some(position.broadcast_add(&mask).unwrap()),
            Some(position.clone()),
            Some(full),
            // Non-contiguous: a transposed bias read through its strides.
            Some(randn(&[1, h, tk, tq], 6).transpose(2, 3).unwrap()),
        ];
        let mut biases = biases;
        if tq <= tk {
            biases.push(Some(position.broadcast_add(&causal).unwrap()));
        }
        for bias in &biases {
            let got = multi_head(&q, &k, &v, h, bias.as_ref()).unwrap();
            let want = reference(&q, &k, &v, h, bias.as_ref());
            let diff = max_diff(&got, &want);
            assert!(diff < TOL, "shape {:?}: diff {diff}", (b, tq, tk, h, dh));
        }
    }
}

#[test]
fn a_query_gives_the_same_bits_in_a_block_of_queries_as_alone() {
    // 11 queries per row: blocks of 4 within a row, blocks that straddle two rows, and a tail.
    let (b, tq, tk, h, dh) = (3, 11, 83, 2, 64);
    let q = randn(&[b, tq, h * dh], 11);
    let k = randn(&[b, tk, h * dh], 12);
    let v = randn(&[b, tk, h * dh], 13);
    let bias = randn(&[b, h, tq, tk], 14);
    let all = multi_head(&q, &k, &v, h, Some(&bias)).unwrap();
    for i in 0..tq {
        let one = multi_head(
            &q.narrow(1, i, 1).unwrap(),
            &k,
            &v,
            h,
            Some(&bias.narrow(2, i, 1).unwrap().contiguous().unwrap()),
        )
        .unwrap();
        let got = all.narrow(1, i, 1).unwrap().flatten_all().unwrap();
        let got = got.to_vec1::<f32>().unwrap();
        assert_eq!(
            got,
            one.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "query {i}"
        );
    }
}

#[test]
fn padding_gets_exactly_zero_weight() {
    // Values at padded positions are huge: any weight on them would show.
    let (b, tk, h, dh) = (2, 6, 2, 4);
    let q = randn(&[b, 1, h * dh], 7);
    let k = randn(&[b, tk, h * dh], 8);
    let mut v = randn(&[b, tk, h * dh], 9).to_vec3::<f32>().unwrap();
    for x in &mut v[1][4..] {
        x.iter_mut().for_each(|x| *x = 1e30);
    }
    let v = Tensor::new(v, &Device::Cpu).unwrap();
    let mask = padding_mask(&lengths_mask(tk, &[0, 2]), DType::F32).unwrap();
    let got = multi_head(&q, &k, &v, h, Some(&mask)).unwrap();
    let want = multi_head(
        &q.narrow(0, 1, 1).unwrap(),
        &k.narrow(0, 1, 1).unwrap().narrow(1, 0, 4).unwrap(),
        &v.narrow(0, 1, 1).unwrap().narrow(1, 0, 4).unwrap(),
        h,
        None,
    )
    .unwrap();
    assert!(max_diff(&got.narrow(0, 1, 1).unwrap(), &want) < TOL);
}

/// Decodes `steps` single positions (then, once, several) through a cache, selecting rows on the
/// way, against candle on the full keys/values kept alongside.
fn check_cache(dtype: DType, dh: usize) {
    let (rows, h) = (3, 2);
    let d = h * dh;
    let mut cache = KvCache::default();
    let mut full: Option<(Tensor, Tensor)> = None;
    let mut b = rows;
    // Selections after some steps: drop a row, repeat/reorder (beams), keep all.
    let selections: [(usize, &[u32]); 5] = [
        (5, &[0, 2]),
        (9, &[1, 1, 0]),
        (20, &[2, 0, 1]),
        (21, &[1, 2, 0]),
        (33, &[0, 2]),
    ];
    for step in 0..40 {
        let t = if step == 25 { 3 } else { 1 };
        let q = randn(&[b, t, d], 100 + step);
        let k = randn(&[b, t, d], 200 + step);
        let v = randn(&[b, t, d], 300 + step);
        let (fk, fv) = match full.take() {
            None => (k.clone(), v.clone()),
            Some((fk, fv)) => (
                Tensor::cat(&[&fk, &k], 1).unwrap(),
                Tensor::cat(&[&fv, &v], 1).unwrap(),
            ),
        };
        let total = fk.dim(1).unwrap();
        let causal = causal_mask(t, total - t, DType::F32, &Device::Cpu).unwrap();
        let cast = |x: &Tensor| x.to_dtype(dtype).unwrap();
        let got = cache
            .attend(
                (&cast(&q), &cast(&k), &cast(&v)),
                h,
                Some(&cast(&causal)),
                None,
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let want = reference(&q, &fk, &fv, h, Some(&causal));
        assert!(max_diff(&got, &want) < TOL, "step {step}");
        assert_eq!(cache.len(), total);
        full = Some((fk, fv));
        if let Some((_, sel)) = selections.iter().find(|(s, _)| *s == step as usize) {
            cache.select_rows(sel).unwrap();
            let idx = Tensor::new(*sel, &Device::Cpu).unwrap();
            let (fk, fv) = full.take().unwrap();
            full = Some((
                fk.index_select(&idx, 0).unwrap(),
                fv.index_select(&idx, 0).unwrap(),
            ));
            b = sel.len();
        }
    }
    assert!(cache.select_rows(&[7]).is_err());
}

#[test]
fn cache_matches_full_attention_across_growth_and_row_selection() {
    check_cache(DType::F32, 12);
    check_cache(DType::F32, 64);
}

#[test]
fn cache_tensor_path_matches_too() {
    // f64 is not a kernel dtype: this runs the concatenating tensor path.
    check_cache(DType::F64, 12);
}

#[test]
fn cross_kv_selects_rows_through_its_map() {
    let (b, s, h, dh) = (3, 27, 2, 64);
    let d = h * dh;
    let k = randn(&[b, s, d], 10);
    let v = randn(&[b, s, d], 11);
    let mask = padding_mask(&lengths_mask(s, &[0, 3, 1]), DType::F32).unwrap();
    for dtype in [DType::F32, DType::F64] {
        let cast = |x: &Tensor| x.to_dtype(dtype).unwrap();
        let mut cross = CrossKv::new(cast(&k), cast(&v), h).unwrap();
        let (mut rk, mut rv, mut rmask) = (k.clone(), v.clone(), mask.clone());
        for (i, sel) in [&[2u32, 0, 2, 1][..], &[3, 3, 0], &[1, 2]]
            .iter()
            .enumerate()
        {
            cross.select_rows(sel).unwrap();
            let idx = Tensor::new(*sel, &Device::Cpu).unwrap();
            rk = rk.index_select(&idx, 0).unwrap();
            rv = rv.index_select(&idx, 0).unwrap();
            rmask = rmask.index_select(&idx, 0).unwrap();
            let q = randn(&[sel.len(), 2, d], 20 + i as u64);
            let got = cross
                .attend(&cast(&q), Some(&cast(&rmask)))
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap();
            let want = reference(&q, &rk, &rv, h, Some(&rmask));
            assert!(max_diff(&got, &want) < TOL, "{dtype:?} selection {i}");
        }
        assert!(cross.select_rows(&[2]).is_err());
    }
}

#[test]
fn mismatched_rows_are_errors_not_panics() {
    let q = randn(&[2, 1, 8], 1);
    let k = randn(&[3, 4, 8], 2);
    assert!(multi_head(&q, &k, &k, 2, None).is_err());
    let cross = CrossKv::new(k.clone(), k.clone(), 2).unwrap();
    assert!(cross.attend(&q, None).is_err());
    let mut cache = KvCache::default();
    cache
        .attend(
            (
                &k.narrow(1, 0, 1).unwrap(),
                &k.narrow(1, 0, 1).unwrap(),
                &k.narrow(1, 0, 1).unwrap(),
            ),
            2,
            None,
            None,
        )
        .unwrap();
    assert!(cache.attend((&q, &q, &q), 2, None, None).is_err());
}

#[test]
fn kernel_exp_is_accurate_and_exact_where_it_matters() {
    use crate::models::cpu::attention::{exp, softmax_in_place};
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-87.5), 0.0);
    assert_eq!(exp(f32::MIN), 0.0);
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert!(exp(f32::NAN).is_nan());
    let mut worst = 0f64;
    for i in 0..=870_000 {
        let x = -(i as f32) * 1e-4;
        let want = (x as f64).exp();
        worst = worst.max(((exp(x) as f64) - want).abs() / want);
    }
    assert!(worst < 3e-7, "relative error {worst}");
    let mut row = [0.5, f32::MIN, -1.0, 2.0, f32::MIN + 3.0];
    softmax_in_place(&mut row);
    let z = 0.5f64.exp() + (-1f64).exp() + 2f64.exp();
    for (got, want) in row.iter().zip([
        0.5f64.exp() / z,
        0.0,
        (-1f64).exp() / z,
        2f64.exp() / z,
        0.0,
    ]) {
        assert!((*got as f64 - want).abs() < 1e-7, "{row:?}");
    }
}

#[test]
fn rows_that_leave_and_join_read_only_their_own_positions() {
    // The CPU kernel's slots, and the tensor path (other devices and dtypes) with its mask.
    check_joining(DType::F32, TOL);
    check_joining(DType::F16, 2e-2);
}

fn check_joining(dtype: DType, tol: f32) {
    // Rows leave (their slots free), others join (taking free slots first, attending from the
    // cache's current length), unread positions are dropped: each row's output is attention
    // over its own keys and values alone.
    let (h, dh) = (2, 8);
    let d = h * dh;
    let mut cache = KvCache::default();
    // Per batch row: its own keys and values so far, and the cache position it starts at.
    let mut own: Vec<(Vec<Tensor>, Vec<Tensor>, usize)> = vec![(vec![], vec![], 0); 2];
    for step in 0..14u64 {
        match step {
            4 => {
                cache.select_rows(&[1]).unwrap();
                own.remove(0);
            }
            5 | 9 => {
                let n = if step == 5 { 2 } else { 1 };
                cache.add_rows(n).unwrap();
                own.extend((0..n).map(|_| (vec![], vec![], cache.len())));
            }
            8 => {
                // The first row leaves: every row left started later.
                cache.select_rows(&[1, 2]).unwrap();
                own.remove(0);
            }
            11 => {
                let unread = own.iter().map(|o| o.2).min().unwrap();
                assert!(unread > 0);
                cache.drop_front(unread).unwrap();
                own.iter_mut().for_each(|o| o.2 -= unread);
            }
            _ => {}
        }
        let b = own.len();
        let (q, k, v) = (
            randn(&[b, 1, d], 500 + step),
            randn(&[b, 1, d], 600 + step),
            randn(&[b, 1, d], 700 + step),
        );
        let starts: Vec<u32> = own.iter().map(|o| o.2 as u32).collect();
        let cast = |x: &Tensor| x.to_dtype(dtype).unwrap();
        let got = cache
            .attend((&cast(&q), &cast(&k), &cast(&v)), h, None, Some(&starts))
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        for (r, o) in own.iter_mut().enumerate() {
            o.0.push(k.narrow(0, r, 1).unwrap());
            o.1.push(v.narrow(0, r, 1).unwrap());
            let (ks, vs) = (Tensor::cat(&o.0, 1).unwrap(), Tensor::cat(&o.1, 1).unwrap());
            let want = reference(&q.narrow(0, r, 1).unwrap(), &ks, &vs, h, None);
            let d = max_diff(&got.narrow(0, r, 1).unwrap(), &want);
            assert!(d < tol, "{dtype:?} step {step} row {r}: {d}");
        }
    }
}
