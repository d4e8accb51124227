//! Placement: which host owns a file (or a block of a large file), so that Spark schedules
//! the task that reads it where its pages are cached.
//!
//! Consistent hashing with virtual nodes: each host appears `vnodes` times on a 64-bit ring
//! (xxh3 of `host#i`); a key belongs to the first point clockwise from its hash. With N hosts,
//! adding or removing one moves about 1/N of the keys, and with 128 virtual nodes per host the
//! busiest host holds within about 25% of the mean (see the tests for the measured bounds).

use std::sync::{Arc, RwLock};

use xxhash_rust::xxh3::xxh3_64;

pub const DEFAULT_VNODES: usize = 128;

#[derive(Debug, Clone, Default)]
pub struct HashRing {
    /// (point, host index), sorted by point.
    points: Vec<(u64, usize)>,
    hosts: Vec<String>,
}

impl HashRing {
    /// A ring over `hosts` (duplicates and empty names ignored).
    pub fn new<S: AsRef<str>>(hosts: &[S], vnodes: usize) -> Self {
        let mut names: Vec<String> = hosts
            .iter()
            .map(|h| h.as_ref().trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        names.sort();
        names.dedup();
        let mut points = Vec::with_capacity(names.len() * vnodes.max(1));
        for (i, h) in names.iter().enumerate() {
            for v in 0..vnodes.max(1) {
                points.push((xxh3_64(format!("{h}#{v}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        HashRing {
            points,
            hosts: names,
        }
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The host owning `key`; `None` for an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = xxh3_64(key.as_bytes());
        let at = self.points.partition_point(|(p, _)| *p < h);
        let (_, host) = self.points[at % self.points.len()];
        Some(&self.hosts[host])
    }

    /// The key a block of a file is placed by: the file for its first block (so small files
    /// have one owner), `path#block` for later blocks of large files.
    pub fn block_key(path: &str, block: u64) -> String {
        if block == 0 {
            path.to_string()
        } else {
            format!("{path}#{block}")
        }
    }
}

/// The executor hosts a cluster-membership source (the Spark plugin) last reported for this
/// process; they take precedence over a static `shoal.cluster.hosts` list.
static LIVE_HOSTS: RwLock<Option<Arc<HashRing>>> = RwLock::new(None);

/// Replaces the live host list (an empty list clears it).
pub fn set_live_hosts<S: AsRef<str>>(hosts: &[S]) {
    let ring = HashRing::new(hosts, DEFAULT_VNODES);
    let mut live = LIVE_HOSTS.write().unwrap_or_else(|p| p.into_inner());
    *live = (!ring.is_empty()).then(|| Arc::new(ring));
}

pub fn live_hosts() -> Option<Arc<HashRing>> {
    LIVE_HOSTS.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The owner of each `block_size` block of a file of `len` bytes at `path`; empty when no
/// ring is known (no locality: Spark schedules anywhere).
pub fn block_owners(ring: Option<&HashRing>, path: &str, len: u64, block_size: u64) -> Vec<String> {
    let Some(ring) = ring.filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let blocks = len.div_ceil(block_size.max(1)).max(1);
    (0..blocks)
        .filter_map(|b| ring.owner(&HashRing::block_key(path, b)).map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("worker-{i}.example")).collect()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("/datasets/imagenet/train/n{:05}/img_{i}.JPEG", i % 1000))
            .collect()
    }

    #[test]
    fn balance_is_within_a_quarter_of_the_mean() {
        for n in [2, 3, 5, 10] {
            let ring = HashRing::new(&hosts(n), DEFAULT_VNODES);
            let mut counts = std::collections::HashMap::new();
            let ks = keys(100_000);
            for k in &ks {
                *counts
                    .entry(ring.owner(k).unwrap().to_string())
                    .or_insert(0usize) += 1;
            }
            let mean = ks.len() as f64 / n as f64;
            let max = *counts.values().max().unwrap() as f64;
            let min = *counts.values().min().unwrap() as f64;
            assert_eq!(counts.len(), n);
            assert!(max / mean < 1.25, "{n} hosts: max {max} mean {mean}");
            assert!(min / mean > 0.75, "{n} hosts: min {min} mean {mean}");
        }
    }

    #[test]
    fn one_host_joining_or_leaving_moves_about_one_nth() {
        let ks = keys(50_000);
        for n in [3, 5, 10] {
            let before = HashRing::new(&hosts(n), DEFAULT_VNODES);
            let after = HashRing::new(&hosts(n + 1), DEFAULT_VNODES);
            let moved = ks
                .iter()
                .filter(|k| before.owner(k) != after.owner(k))
                .count() as f64
                / ks.len() as f64;
            let ideal = 1.0 / (n + 1) as f64;
            assert!(
                moved < ideal * 1.35 && moved > ideal * 0.65,
                "join to {}: moved {moved:.3}, ideal {ideal:.3}",
                n + 1
            );
            // Everything that moved went to the new host.
            let new_host = &hosts(n + 1)[n];
            assert!(ks
                .iter()
                .filter(|k| before.owner(k) != after.owner(k))
                .all(|k| after.owner(k) == Some(new_host.as_str())));
            // Leaving is the reverse: only the leaver's keys move.
            let leaver = &hosts(n + 1)[1];
            let remaining: Vec<String> = hosts(n + 1).into_iter().filter(|h| h != leaver).collect();
            let left = HashRing::new(&remaining, DEFAULT_VNODES);
            assert!(ks
                .iter()
                .filter(|k| after.owner(k) != left.owner(k))
                .all(|k| after.owner(k) == Some(leaver.as_str())));
        }
    }

    #[test]
    fn block_owners_follow_the_ring() {
        assert!(block_owners(None, "/f", 10, 4).is_empty());
        let ring = HashRing::new(&hosts(3), DEFAULT_VNODES);
        let owners = block_owners(Some(&ring), "/f", 10, 4);
        assert_eq!(owners.len(), 3);
        assert_eq!(owners[0], ring.owner("/f").unwrap());
        assert_eq!(owners[2], ring.owner("/f#2").unwrap());
        assert_eq!(block_owners(Some(&ring), "/empty", 0, 4).len(), 1);
    }

    #[test]
    fn owners_are_stable_and_order_independent() {
        let a = HashRing::new(&["b", "a", "c", "a", " "], 64);
        let b = HashRing::new(&["c", "b", "a"], 64);
        assert_eq!(a.hosts(), &["a", "b", "c"]);
        for k in keys(1000) {
            assert_eq!(a.owner(&k), b.owner(&k));
        }
        assert_eq!(HashRing::new::<&str>(&[], 8).owner("x"), None);
        assert_eq!(HashRing::block_key("/f", 0), "/f");
        assert_eq!(HashRing::block_key("/f", 2), "/f#2");
    }
}
