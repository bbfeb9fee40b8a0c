//! How closely one run's outputs follow a reference run's (8-bit weights against f32).

use serde::Serialize;

/// Agreement of candidate token sequences with reference sequences, row by row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Agreement {
    /// Rows compared.
    pub rows: usize,
    /// Rows whose sequences are identical.
    pub identical: usize,
    /// Reference tokens reproduced at the same position before the first difference, summed.
    pub prefix_tokens: usize,
    /// Reference tokens, summed.
    pub reference_tokens: usize,
}

impl Agreement {
    /// Compares `candidate[i]` with `reference[i]`; panics when the row counts differ.
    pub fn of<A: AsRef<[u32]>, B: AsRef<[u32]>>(reference: &[A], candidate: &[B]) -> Self {
        assert_eq!(reference.len(), candidate.len(), "row counts differ");
        let mut a = Agreement {
            rows: reference.len(),
            identical: 0,
            prefix_tokens: 0,
            reference_tokens: 0,
        };
        for (r, c) in reference.iter().zip(candidate) {
            let (r, c) = (r.as_ref(), c.as_ref());
            a.identical += usize::from(r == c);
            a.prefix_tokens += r.iter().zip(c).take_while(|(x, y)| x == y).count();
            a.reference_tokens += r.len();
        }
        a
    }

    /// Share of identical rows (1 when there are none).
    pub fn identical_rate(&self) -> f64 {
        ratio(self.identical, self.rows)
    }

    /// Share of reference tokens reproduced before the first difference (1 when there are none).
    pub fn prefix_rate(&self) -> f64 {
        ratio(self.prefix_tokens, self.reference_tokens)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} rows identical ({:.1}%), {}/{} tokens before the first difference ({:.1}%)",
            self.identical,
            self.rows,
            100.0 * self.identical_rate(),
            self.prefix_tokens,
            self.reference_tokens,
            100.0 * self.prefix_rate()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_identical_rows_and_matching_prefixes() {
        let reference = [vec![1, 2, 3, 4], vec![5, 6], vec![]];
        let candidate = [vec![1, 2, 9, 4], vec![5, 6], vec![7]];
        let a = Agreement::of(&reference, &candidate);
        assert_eq!((a.rows, a.identical), (3, 1));
        assert_eq!((a.prefix_tokens, a.reference_tokens), (4, 6));
        assert!((a.prefix_rate() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            a.to_string(),
            "1/3 rows identical (33.3%), 4/6 tokens before the first difference (66.7%)"
        );
    }

    #[test]
    fn empty_comparisons_agree_fully() {
        let none: [Vec<u32>; 0] = [];
        assert_eq!(Agreement::of(&none, &none).prefix_rate(), 1.0);
    }
}
