//! Sharding an archive run over several processes (`copydesk batch --shard K/N`, a Kubernetes
//! Indexed Job): a record belongs to shard `fnv1a(id) % N`, a fixed hash of its final id (after
//! duplicate ids are renamed, which every shard does alike because each reads the whole input),
//! so every record is processed by exactly one shard.

use crate::text::fnv1a;

/// This process's part of the records: those whose id hashes to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `K/N` (0-based), or `N` / `/N` with `K` taken from `index_env` (a Kubernetes Indexed
    /// Job's `JOB_COMPLETION_INDEX`).
    pub fn parse(spec: &str, index_env: Option<&str>) -> Result<Shard, String> {
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("--shard {spec:?}: {what} must be a whole number"))
        };
        let (k, n) = match spec.split_once('/') {
            Some((k, n)) if !k.trim().is_empty() => (number(k, "K")?, number(n, "N")?),
            Some((_, n)) => (Self::index_from(index_env, spec)?, number(n, "N")?),
            None => (Self::index_from(index_env, spec)?, number(spec, "N")?),
        };
        if n == 0 || k >= n {
            return Err(format!(
                "--shard {spec:?}: need 0 <= K < N (K is 0-based), got K={k} N={n}"
            ));
        }
        Ok(Shard { index: k, count: n })
    }

    fn index_from(env: Option<&str>, spec: &str) -> Result<u64, String> {
        let value = env.ok_or_else(|| {
            format!("--shard {spec:?} names no K and JOB_COMPLETION_INDEX is not set")
        })?;
        value
            .trim()
            .parse()
            .map_err(|_| format!("JOB_COMPLETION_INDEX={value:?} is not a whole number"))
    }

    /// Whether the record with this id is this shard's.
    pub fn owns(&self, id: &str) -> bool {
        fnv1a(id) % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_ownership() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("/4", Some("2")),
            Ok(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            Shard::parse("4", Some("0")),
            Ok(Shard { index: 0, count: 4 })
        );
        assert!(Shard::parse("3/3", None)
            .unwrap_err()
            .contains("0 <= K < N"));
        assert!(Shard::parse("0/0", None).is_err());
        assert!(Shard::parse("/3", None)
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(Shard::parse("a/3", None).is_err());
        // Every id belongs to exactly one of N shards, and the split is fixed.
        let shards: Vec<Shard> = (0..3).map(|k| Shard { index: k, count: 3 }).collect();
        let mut sizes = [0; 3];
        for i in 0..300 {
            let id = format!("record-{i}");
            let owners: Vec<u64> = shards
                .iter()
                .filter(|s| s.owns(&id))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0] as usize] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 60), "{sizes:?}");
        // Pinned: FNV-1a 64 of these ids modulo 3, computed outside copydesk (Python).
        let owner = |id: &str| shards.iter().find(|s| s.owns(id)).unwrap().index;
        let ids = ["a", "r0", "r1", "r2", "r3", "doc.txt"];
        assert_eq!(ids.map(owner), [1, 2, 1, 1, 0, 0]);
    }
}
