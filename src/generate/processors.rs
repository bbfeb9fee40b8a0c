//! Logits processors with transformers' semantics and order: repetition penalty, no-repeat
//! n-grams, bad words, minimum length, forced bos at the first position, forced eos at the last.

use super::GenerationConfig;

/// The processors in effect for one generate call.
#[derive(Debug, Clone)]
pub struct Processors {
    repetition_penalty: f64,
    no_repeat_ngram_size: usize,
    /// Single-token bans, always applied.
    banned: Vec<u32>,
    /// Multi-token bad words: the last token is banned after the prefix.
    banned_sequences: Vec<Vec<u32>>,
    min_length: usize,
    max_length: usize,
    forced_bos: Option<u32>,
    forced_eos: Option<u32>,
    renormalize: bool,
    eos: Vec<u32>,
}

impl Processors {
    /// `max_length` is the length in effect (the request's, clamped to the model's positions).
    pub fn new(cfg: &GenerationConfig, eos: &[u32], max_length: usize) -> Self {
        // transformers drops bad-word sequences that are exactly one eos id.
        let bad: Vec<Vec<u32>> = cfg
            .bad_words_ids
            .iter()
            .filter(|seq| !seq.is_empty() && (seq.len() != 1 || !eos.contains(&seq[0])))
            .cloned()
            .collect();
        Self {
            repetition_penalty: cfg.repetition_penalty,
            no_repeat_ngram_size: cfg.no_repeat_ngram_size,
            banned: bad.iter().filter(|s| s.len() == 1).map(|s| s[0]).collect(),
            banned_sequences: bad.into_iter().filter(|s| s.len() > 1).collect(),
            min_length: cfg.effective_min_length(),
            max_length,
            forced_bos: cfg.forced_bos_token_id,
            forced_eos: cfg.forced_eos_token_id,
            renormalize: cfg.renormalize_logits,
            eos: eos.to_vec(),
        }
    }

    /// Processes one row of scores in place; `seq` is the row's decoder sequence so far (start
    /// token included).
    pub fn apply(&self, seq: &[u32], scores: &mut [f32]) {
        let vocab = scores.len();
        if self.repetition_penalty != 1.0 {
            let p = self.repetition_penalty as f32;
            let mut seen = seq.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for &t in seen.iter().filter(|&&t| (t as usize) < vocab) {
                let s = &mut scores[t as usize];
                *s = if *s < 0.0 { *s * p } else { *s / p };
            }
        }
        self.for_each_masked(seq, |t| {
            if let Some(s) = scores.get_mut(t as usize) {
                *s = f32::NEG_INFINITY;
            }
        });
        // Every other token -inf, the forced one 0.
        if let Some(t) = self.forced(seq, vocab) {
            scores.fill(f32::NEG_INFINITY);
            scores[t as usize] = 0.0;
        }
        if self.renormalize {
            log_softmax_in_place(scores);
        }
    }

    /// Whether [`Self::apply`] only masks tokens ([`Self::for_each_masked`]) or forces one
    /// ([`Self::forced`]), so that the best tokens can be chosen where the logits are: no
    /// repetition penalty (it rescales values) and no renormalization.
    pub fn masks_only(&self) -> bool {
        self.repetition_penalty == 1.0 && !self.renormalize
    }

    /// Calls `mask` with each token that [`Self::apply`] sets to `-inf` after `seq` (repeated
    /// n-grams, bad words, eos before the minimum length); ids may be out of the vocabulary.
    pub fn for_each_masked(&self, seq: &[u32], mut mask: impl FnMut(u32)) {
        if self.no_repeat_ngram_size > 0 {
            banned_ngram_tokens(seq, self.no_repeat_ngram_size)
                .into_iter()
                .for_each(&mut mask);
        }
        self.banned.iter().copied().for_each(&mut mask);
        for bad in &self.banned_sequences {
            let (prefix, last) = bad.split_at(bad.len() - 1);
            if seq.ends_with(prefix) {
                mask(last[0]);
            }
        }
        if seq.len() < self.min_length {
            self.eos.iter().copied().for_each(mask);
        }
    }

    /// The token [`Self::apply`] forces after `seq`: transformers' ForcedBOS then ForcedEOS
    /// processors (the later wins when both apply).
    pub fn forced(&self, seq: &[u32], vocab: usize) -> Option<u32> {
        let forced = match (self.forced_bos, self.forced_eos) {
            (_, Some(eos)) if seq.len() + 1 == self.max_length => Some(eos),
            (Some(bos), _) if seq.len() == 1 => Some(bos),
            _ => None,
        };
        forced.filter(|&t| (t as usize) < vocab)
    }
}

/// Tokens that would repeat an n-gram of size `n` already present in `seq` (fairseq's rule).
fn banned_ngram_tokens(seq: &[u32], n: usize) -> Vec<u32> {
    if seq.len() + 1 < n {
        return Vec::new();
    }
    let prefix = &seq[seq.len() + 1 - n..];
    seq.windows(n)
        .filter(|w| &w[..n - 1] == prefix)
        .map(|w| w[n - 1])
        .collect()
}

/// `log_softmax` of one row, in f64 for accuracy, returned as f32.
pub fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return vec![f32::NEG_INFINITY; row.len()];
    }
    let log_sum = crate::models::cpu::kernels::sum_exp(row, max).ln() as f32;
    row.iter().map(|&x| x - max - log_sum).collect()
}

/// `log_softmax` of one row, in place.
pub fn log_softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    let shift = max + crate::models::cpu::kernels::sum_exp(row, max).ln() as f32;
    row.iter_mut().for_each(|x| *x -= shift);
}

/// Indices of the `k` largest values, largest first (ties: lower index first), in one pass.
pub fn top_k(row: &[f32], k: usize) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        if best.len() == k && x.partial_cmp(&best[k - 1].0) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        // Insert after every entry that is >= x, so earlier indices win ties.
        let at = best.partition_point(|&(v, _)| v >= x);
        best.insert(at, (x, i as u32));
        best.truncate(k);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// `log_softmax(row)[i]` without building the whole row.
pub fn log_prob(row: &[f32], i: usize) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    row[i] - max - crate::models::cpu::kernels::sum_exp(row, max).ln() as f32
}

/// Index of the first maximum, as `torch.argmax` picks it.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GenerationConfig {
        GenerationConfig {
            max_new_tokens: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn ngram_bans_follow_fairseq() {
        // seq = 5 6 7 5 6 : with n = 3, prefix (5, 6) was followed by 7 → 7 banned.
        assert_eq!(banned_ngram_tokens(&[5, 6, 7, 5, 6], 3), vec![7]);
        assert_eq!(banned_ngram_tokens(&[5, 6, 7, 5], 2), vec![6]);
        assert!(banned_ngram_tokens(&[5], 3).is_empty());
    }

    #[test]
    fn repetition_penalty_scales_by_sign() {
        let p = Processors::new(
            &GenerationConfig {
                repetition_penalty: 2.0,
                ..cfg()
            },
            &[0],
            cfg().effective_max_length(),
        );
        let mut s = vec![1.0, -1.0, 4.0];
        p.apply(&[1, 2, 2], &mut s);
        assert_eq!(s, vec![1.0, -2.0, 2.0]);
    }

    #[test]
    fn bad_words_ban_but_never_eos_alone() {
        let c = GenerationConfig {
            bad_words_ids: vec![vec![0], vec![2], vec![3, 1]],
            ..cfg()
        };
        let p = Processors::new(&c, &[0], c.effective_max_length());
        let mut s = vec![0.5; 4];
        p.apply(&[9, 3], &mut s);
        assert_eq!(s, vec![0.5, f32::NEG_INFINITY, f32::NEG_INFINITY, 0.5]);
        let mut s = vec![0.5; 4];
        p.apply(&[9, 1], &mut s);
        assert_eq!(s, vec![0.5, 0.5, f32::NEG_INFINITY, 0.5]);
    }

    #[test]
    fn min_length_and_forced_eos() {
        let c = GenerationConfig {
            min_new_tokens: Some(2),
            forced_eos_token_id: Some(0),
            ..cfg()
        };
        let p = Processors::new(&c, &[0], c.effective_max_length());
        let mut s = vec![1.0; 3];
        p.apply(&[2, 1], &mut s); // one token generated: eos still banned
        assert_eq!(s[0], f32::NEG_INFINITY);
        let mut s = vec![1.0; 3];
        p.apply(&[2; 10], &mut s); // the 10th new token is the last one: eos forced
        assert_eq!(s, vec![0.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
    }

    #[test]
    fn log_softmax_and_argmax() {
        let l = log_softmax(&[1.0, 1.0, f32::NEG_INFINITY]);
        assert!((l[0] - (0.5f32).ln()).abs() < 1e-6);
        assert_eq!(log_prob(&[1.0, 1.0, f32::NEG_INFINITY], 1), l[1]);
        assert_eq!(l[2], f32::NEG_INFINITY);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        let mut row = vec![1.0, 1.0, f32::NEG_INFINITY];
        log_softmax_in_place(&mut row);
        assert_eq!(row, l);
    }

    #[test]
    fn top_k_orders_by_value_then_index() {
        let row = [0.5, 2.0, f32::NEG_INFINITY, 2.0, 1.0, 3.0];
        assert_eq!(top_k(&row, 3), vec![5, 1, 3]);
        assert_eq!(top_k(&row, 10), vec![5, 1, 3, 4, 0, 2]);
        assert!(top_k(&row, 0).is_empty());
    }
}
