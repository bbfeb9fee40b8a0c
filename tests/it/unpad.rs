//! The encoder runs its row-wise layers on the real positions of a padded batch alone
//! (`models::unpad`): a batch with much padding must give each input's real rows what the input
//! gives alone, for both encoder implementations (BART family and T5).

use copydesk::engine::pad_batch;
use copydesk::models::unpad::Unpadded;

use crate::common::max_abs_diff;
use crate::parity::{load, rows3, target};

fn check(name: &str) {
    let (model, _) = load(name);
    let m = model.seq2seq();
    let special = m.special_tokens();
    // Lengths 2, 11 and 5 in 11 positions: 15 of 33 padded.
    let inputs: Vec<Vec<u32>> = [2usize, 11, 5]
        .iter()
        .enumerate()
        .map(|(r, &len)| {
            let mut row: Vec<u32> = (0..len as u32 - 1)
                .map(|i| 5 + (7 * i + 3 * r as u32) % 40)
                .collect();
            row.push(special.eos);
            row
        })
        .collect();
    let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    let (ids, mask) = pad_batch(&refs, special.pad, &target().device).unwrap();
    if target().device.is_cpu() {
        assert!(
            Unpadded::new(&mask).unwrap().gathers(),
            "{name}: not gathered"
        );
    }
    let batch = rows3(&m.encode(&ids, &mask).unwrap());
    let tol = target().tol().unwrap_or(5e-2);
    for (r, input) in inputs.iter().enumerate() {
        let (one, one_mask) =
            pad_batch(&[input.as_slice()], special.pad, &target().device).unwrap();
        let alone = rows3(&m.encode(&one, &one_mask).unwrap());
        for t in 0..input.len() {
            let d = max_abs_diff(&batch[r][t], &alone[0][t]);
            assert!(
                d <= tol,
                "{name}: row {r} position {t} differs by {d} batched"
            );
        }
    }
}

#[test]
fn a_padded_batch_encodes_each_input_as_it_encodes_alone() {
    for name in ["marian-tied", "bart-tiny", "t5-gated-untied"] {
        check(name);
    }
}
