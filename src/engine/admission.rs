//! When waiting inputs join a running batch (continuous scheduling): a plain struct, no model,
//! no threads, tested directly. The model thread asks it between two decode steps.
//!
//! Rules:
//! - First come, first served: inputs join in arrival order, and when the oldest waiting input
//!   does not fit, nothing younger overtakes it. The running rows keep finishing, so it fits
//!   within at most the longest running row's remaining steps: a stream of short inputs cannot
//!   starve a long one.
//! - Limits on the batch after joining: rows (inputs × beams), the padded source budget (rows ×
//!   longest source, the same unit as the static policy's), and the key/value memory reserved,
//!   rows × (longest source + longest output allowed), in positions per layer.
//! - Only the beam width separates inputs: every other setting (length limits, penalties, the
//!   prompt) is per row. An input with another beam width waits until the running batch drains.
//! - Between two decode steps, at most `max_prefill_tokens` source tokens (inputs × longest)
//!   are encoded, but always one input: a large request joins in parts, and the rows already
//!   running (and a request that arrives meanwhile) wait for one part's encoder pass, not all.
//! - An input alone in an empty batch always runs, whatever its size.
//! - The model thread ([`super::continuous`]) picks which request's inputs are offered: requests
//!   take turns while the batch has room (a request arriving during a large one joins at the
//!   next step); once the batch is more than half full, the oldest request first.
//! - Waiting inputs join at the next step: the batcher in front already held them for its
//!   `max_wait` to gather company, and their encoder pass costs the running rows about one step.

/// Limits of a continuously scheduled batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Most decoder rows (inputs × beams).
    pub max_rows: usize,
    /// Rows × longest source, in tokens.
    pub max_batch_tokens: usize,
    /// Rows × (longest source + longest output allowed): key/value positions per layer.
    pub max_kv_tokens: usize,
    /// Source tokens (joining rows × their longest source) encoded between two decode steps:
    /// a large request joins in parts, so the rows already running, and requests that arrive
    /// meanwhile, wait at most one part's encoder pass.
    pub max_prefill_tokens: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            max_rows: 64,
            max_batch_tokens: 8192,
            max_kv_tokens: 65536,
            max_prefill_tokens: 256,
        }
    }
}

/// The shape of a batch, or of one input that might join it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Decoder rows (inputs × beams).
    pub rows: usize,
    /// Longest source, in tokens.
    pub source: usize,
    /// Longest output allowed, in decoder positions.
    pub output: usize,
}

impl Load {
    /// One input of `source` tokens that may decode `output` positions, searched with `beams`.
    pub fn input(source: usize, output: usize, beams: usize) -> Self {
        Self {
            rows: beams.max(1),
            source: source.max(1),
            output,
        }
    }

    /// The batch with `other` added.
    pub fn with(self, other: Load) -> Self {
        Self {
            rows: self.rows + other.rows,
            source: self.source.max(other.source),
            output: self.output.max(other.output),
        }
    }
}

impl Admission {
    /// How many of `waiting` (inputs oldest first, each [`Load::input`]: its rows are its beam
    /// width) join a batch now running `running` with `beams` beams (`running.rows == 0`:
    /// nothing runs, any width may start).
    pub fn admit(&self, running: Load, beams: usize, waiting: &[Load]) -> usize {
        let mut load = running;
        let mut joining = Load::default();
        let mut width = (running.rows > 0).then_some(beams);
        let mut n = 0;
        for &w in waiting {
            if width.is_some_and(|b| b != w.rows) {
                break;
            }
            let next = load.with(w);
            let part = joining.with(w);
            let fits = next.rows <= self.max_rows
                && next.rows * next.source <= self.max_batch_tokens
                && next.rows * (next.source + next.output) <= self.max_kv_tokens
                && (joining.rows == 0
                    || part.rows / w.rows * part.source <= self.max_prefill_tokens);
            if !fits && load.rows > 0 {
                break;
            }
            (load, joining) = (next, part);
            width = Some(w.rows);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Admission {
        Admission {
            max_rows: 8,
            max_batch_tokens: 200,
            max_kv_tokens: 1000,
            max_prefill_tokens: 1000,
        }
    }

    fn input(source: usize, output: usize) -> Load {
        Load::input(source, output, 1)
    }

    #[test]
    fn an_empty_batch_takes_what_fits_in_arrival_order() {
        let waiting = [input(10, 20), input(30, 20), input(20, 20)];
        assert_eq!(policy().admit(Load::default(), 1, &waiting), 3);
        // Rows × longest source: 3 × 80 > 200 stops the third.
        let waiting = [input(10, 20), input(80, 20), input(5, 20)];
        assert_eq!(policy().admit(Load::default(), 1, &waiting), 2);
    }

    #[test]
    fn an_input_alone_always_runs() {
        let huge = [input(500, 500)];
        assert_eq!(policy().admit(Load::default(), 1, &huge), 1);
        // But it does not join a running batch it would overflow.
        let running = Load::input(10, 10, 1);
        assert_eq!(policy().admit(running, 1, &huge), 0);
    }

    #[test]
    fn younger_inputs_do_not_overtake_one_that_does_not_fit() {
        // Running: 6 rows of 20 tokens (120 of 200). The oldest waiting input (40 tokens) would
        // make 7 × 40 = 280; the short one behind it would fit but must wait its turn.
        let running = Load {
            rows: 6,
            source: 20,
            output: 40,
        };
        let waiting = [input(40, 40), input(5, 10)];
        assert_eq!(policy().admit(running, 1, &waiting), 0);
        // Once rows have left, the oldest goes first.
        let running = Load { rows: 2, ..running };
        assert_eq!(policy().admit(running, 1, &waiting), 2);
    }

    #[test]
    fn rows_and_key_value_memory_are_limits() {
        let running = Load {
            rows: 7,
            source: 10,
            output: 20,
        };
        // 8 rows allowed: one joins, the second would be the ninth.
        assert_eq!(
            policy().admit(running, 1, &[input(10, 20), input(10, 20)]),
            1
        );
        // 2 rows × (10 + 600) > 1000 key/value positions.
        let short = Load::input(10, 20, 1);
        assert_eq!(policy().admit(short, 1, &[input(10, 600)]), 0);
        assert_eq!(policy().admit(short, 1, &[input(10, 400)]), 1);
    }

    #[test]
    fn a_large_request_joins_in_parts_of_the_prefill_budget() {
        let parts = Admission {
            max_prefill_tokens: 60,
            ..policy()
        };
        let waiting = [input(10, 5), input(20, 5), input(20, 5), input(30, 5)];
        // 3 inputs × 20 tokens = 60 fit one part; a fourth would make 4 × 30.
        assert_eq!(parts.admit(Load::default(), 1, &waiting), 3);
        // One input always joins, even when it alone is over the budget.
        let running = Load::input(10, 10, 1);
        assert_eq!(parts.admit(running, 1, &[input(90, 5), input(5, 5)]), 1);
    }

    #[test]
    fn only_the_beam_width_separates_inputs() {
        let running = Load::input(10, 20, 2);
        let beam2 = Load::input(10, 5, 2);
        let greedy = input(10, 5);
        // Another output length joins; another beam width waits, and blocks those behind it.
        assert_eq!(policy().admit(running, 2, &[beam2, greedy, beam2]), 1);
        assert_eq!(policy().admit(running, 2, &[greedy, beam2]), 0);
        // An empty batch starts with the first input's width and keeps to it.
        assert_eq!(
            policy().admit(Load::default(), 1, &[beam2, beam2, greedy]),
            2
        );
    }
}
