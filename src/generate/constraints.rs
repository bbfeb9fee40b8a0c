//! Lexically constrained beam search with transformers' `force_words_ids` semantics (its
//! `PhrasalConstraint`s tracked by a `ConstraintListState`, ranked in banks as its
//! `ConstrainedBeamSearchScorer` does): every phrase must appear, token for token, in the output.
//!
//! A sequence's progress is replayed from its tokens: a token that starts a pending phrase starts
//! it (the first such phrase, in the order given), the next token of the phrase in progress
//! advances it, any other token drops that phrase's progress (it is pending again, last). A
//! sequence's bank is `complete phrases × longest phrase + (longest − remaining tokens of the one
//! in progress)`. Each step the candidates are the usual top continuations plus, for each running
//! beam, the tokens that make progress; the next beams are taken from the banks in turn (best of
//! the highest bank, best of the next bank, …, then the second best of each), so that beams that
//! have placed more of the phrases survive next to the model's own best continuation. A
//! hypothesis may only finish once every phrase is complete.

/// Progress of one sequence through the phrases.
#[derive(Debug, Clone)]
pub(super) struct Progress {
    complete: usize,
    /// The phrase in progress and how many of its tokens are matched.
    current: Option<(usize, usize)>,
    /// Phrases not started, in the order they are tried.
    pending: Vec<usize>,
}

impl Progress {
    /// The progress of `seq` (start token included) through `phrases`.
    pub(super) fn of(seq: &[u32], phrases: &[Vec<u32>]) -> Progress {
        let mut p = Progress {
            complete: 0,
            current: None,
            pending: (0..phrases.len()).collect(),
        };
        for &t in seq {
            if p.completed() {
                break;
            }
            p.add(t, phrases);
        }
        p
    }

    /// The progress after one more token (none once every phrase is complete).
    pub(super) fn after(&self, token: u32, phrases: &[Vec<u32>]) -> Progress {
        let mut p = self.clone();
        if !p.completed() {
            p.add(token, phrases);
        }
        p
    }

    pub(super) fn completed(&self) -> bool {
        self.current.is_none() && self.pending.is_empty()
    }

    fn add(&mut self, token: u32, phrases: &[Vec<u32>]) {
        if let Some((k, matched)) = self.current {
            if phrases[k][matched] == token {
                if matched + 1 == phrases[k].len() {
                    self.complete += 1;
                    self.current = None;
                } else {
                    self.current = Some((k, matched + 1));
                }
            } else {
                self.current = None;
                self.pending.push(k);
            }
            return;
        }
        if let Some(at) = self.pending.iter().position(|&k| phrases[k][0] == token) {
            let k = self.pending.remove(at);
            if phrases[k].len() == 1 {
                self.complete += 1;
            } else {
                self.current = Some((k, 1));
            }
        }
    }

    /// The tokens that make progress: the next token of the phrase in progress, else the first
    /// token of every pending phrase.
    pub(super) fn advance_tokens(&self, phrases: &[Vec<u32>]) -> Vec<u32> {
        match self.current {
            Some((k, matched)) => vec![phrases[k][matched]],
            None => self.pending.iter().map(|&k| phrases[k][0]).collect(),
        }
    }

    pub(super) fn bank(&self, phrases: &[Vec<u32>]) -> usize {
        let longest = phrases.iter().map(Vec::len).max().unwrap_or(0);
        let partial = self
            .current
            .map_or(0, |(k, matched)| longest - (phrases[k].len() - matched));
        self.complete * longest + partial
    }
}

/// Indices into `banks` (each candidate's bank, candidates best first within a bank) in the
/// order the next beams are taken: rank 0 of every bank from the highest bank down, then rank 1,
/// and so on.
pub(super) fn bank_order(banks: &[usize]) -> Vec<usize> {
    let mut ranked: Vec<(usize, std::cmp::Reverse<usize>, usize)> = Vec::new();
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for (i, &b) in banks.iter().enumerate() {
        let rank = match seen.iter_mut().find(|(bank, _)| *bank == b) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.push((b, 0));
                0
            }
        };
        ranked.push((rank, std::cmp::Reverse(b), i));
    }
    ranked.sort();
    ranked.into_iter().map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_follows_phrases_and_restarts_on_a_break() {
        let phrases = vec![vec![5, 6, 7], vec![9]];
        let p = Progress::of(&[1, 5, 6], &phrases);
        assert_eq!(p.advance_tokens(&phrases), [7]);
        assert_eq!(p.bank(&phrases), 2);
        // A break drops the progress; the phrase is pending again, after the other one.
        let p = Progress::of(&[1, 5, 6, 8], &phrases);
        assert_eq!(p.advance_tokens(&phrases), [9, 5]);
        assert_eq!(p.bank(&phrases), 0);
        let p = Progress::of(&[1, 9, 2, 5, 6, 7], &phrases);
        assert!(p.completed());
        assert_eq!(p.bank(&phrases), 6);
        assert!(Progress::of(&[1, 9, 2, 5, 6, 7, 0], &phrases).completed());
        assert!(!Progress::of(&[1, 5, 6, 2, 7, 9], &phrases).completed());
        // One token more gives what replaying the longer sequence gives.
        let step = Progress::of(&[1, 5, 6], &phrases).after(7, &phrases);
        assert_eq!(
            step.bank(&phrases),
            Progress::of(&[1, 5, 6, 7], &phrases).bank(&phrases)
        );
        assert_eq!(step.advance_tokens(&phrases), [9]);
        // The short phrase's bank counts as much as the long one's share of the longest.
        assert_eq!(Progress::of(&[1, 9], &phrases).bank(&phrases), 3);
    }

    #[test]
    fn banks_take_turns() {
        // Candidates best first within each bank: banks 0, 0, 2, 1, 2, 0.
        assert_eq!(bank_order(&[0, 0, 2, 1, 2, 0]), [2, 3, 0, 4, 1, 5]);
    }
}
