//! Which pages the janitor evicts, decided in bounded memory.
//!
//! The policy is segmented, in the manner of S3-FIFO: a page enters *probation* when it is
//! written and moves to the *protected* segment on its first hit (any later process's hit
//! counts: the mark is on disk, see below). Eviction takes probation pages, oldest first, while
//! probation holds more than `PROBATION_SHARE` of the capacity, and protected pages (least
//! recently hit first) only when it does not. A one-time scan larger than the cache therefore
//! churns through probation and leaves the pages that were read again, the part of the
//! working set that fits, where they are; with nothing hit (a first epoch) it is plain
//! least-recently-written, which is what the mtime LRU before it did.
//!
//! The state lives in each page file's mtime, so processes share it and a new process needs no
//! index: the time is the last write or hit (refreshed at most every minute), and the lowest
//! bit of its nanoseconds is the segment (odd: protected). Filesystems that keep only whole
//! seconds lose the mark and give plain LRU.
//!
//! Choosing victims never lists the directory in memory: the janitor samples up to
//! `SAMPLE_PAGES` page files into an age histogram per segment (`AgeHistogram`, a fixed size),
//! derives from it an age above which pages of each segment go (`Plan`), and sweeps the layout
//! directories one entry at a time, removing what is older, until enough is freed. Its work is
//! the sample plus about `held / freed` entries per page freed (10 at the usual 90% target).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Probation may hold this share of the capacity before protected pages are kept from it.
pub const PROBATION_SHARE: f64 = 0.1;
/// Page files sampled to choose the ages to evict.
pub const SAMPLE_PAGES: usize = 4096;
/// Age classes: four per doubling of the age in seconds (2^32 s is more than a century).
const BUCKETS: usize = 4 * 33;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Probation = 0,
    Protected = 1,
}

/// The segment a page's mtime records.
pub fn segment(mtime: SystemTime) -> Segment {
    match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) if d.subsec_nanos() & 1 == 1 => Segment::Protected,
        _ => Segment::Probation,
    }
}

/// The mtime that records `segment` at `now`.
pub fn stamp(now: SystemTime, segment: Segment) -> SystemTime {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let nanos = (d.subsec_nanos() & !1) | segment as u32;
    UNIX_EPOCH + Duration::new(d.as_secs(), nanos)
}

fn bucket(age: Duration) -> usize {
    let s = age.as_secs_f64() + 1.0;
    ((s.log2() * 4.0) as usize).min(BUCKETS - 1)
}

/// Bytes of sampled pages by segment and age class.
#[derive(Debug, Clone)]
pub struct AgeHistogram {
    bytes: [[u64; BUCKETS]; 2],
    pages: usize,
}

impl Default for AgeHistogram {
    fn default() -> Self {
        AgeHistogram {
            bytes: [[0; BUCKETS]; 2],
            pages: 0,
        }
    }
}

impl AgeHistogram {
    pub fn add(&mut self, segment: Segment, age: Duration, bytes: u64) {
        self.bytes[segment as usize][bucket(age)] += bytes;
        self.pages += 1;
    }

    pub fn pages(&self) -> usize {
        self.pages
    }

    fn total(&self, s: Segment) -> u64 {
        self.bytes[s as usize].iter().sum()
    }

    /// The lowest age class whose pages, with every older class, hold at least `want` bytes:
    /// `BUCKETS` (nothing) for `want == 0`, 0 (everything) when the segment holds less.
    fn cutoff(&self, s: Segment, want: u64) -> usize {
        if want == 0 {
            return BUCKETS;
        }
        let mut acc = 0;
        for b in (0..BUCKETS).rev() {
            acc += self.bytes[s as usize][b];
            if acc >= want {
                return b;
            }
        }
        0
    }
}

/// The ages above which the sweep evicts, per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    cutoff: [usize; 2],
}

impl Plan {
    /// How to free `need` bytes of the `held` bytes a directory of `capacity` holds, from a
    /// sample of its pages.
    pub fn new(sample: &AgeHistogram, held: u64, need: u64, capacity: u64) -> Plan {
        let (p, q) = (Segment::Probation, Segment::Protected);
        let sampled = sample.total(p) + sample.total(q);
        if sampled == 0 {
            return Plan { cutoff: [0, 0] };
        }
        let scale = held as f64 / sampled as f64;
        let held_p = (sample.total(p) as f64 * scale) as u64;
        let held_q = (sample.total(q) as f64 * scale) as u64;
        let share = (capacity as f64 * PROBATION_SHARE) as u64;
        let mut from_p = need.min(held_p.saturating_sub(share));
        let from_q = (need - from_p).min(held_q);
        // Protected pages cannot give all of it: probation gives the rest.
        from_p = (need - from_q).min(held_p).max(from_p);
        let want = |bytes: u64| (bytes as f64 / scale).ceil() as u64;
        Plan {
            cutoff: [
                sample.cutoff(p, want(from_p)),
                sample.cutoff(q, want(from_q)),
            ],
        }
    }

    pub fn evicts(&self, segment: Segment, age: Duration) -> bool {
        bucket(age) >= self.cutoff[segment as usize]
    }

    /// The plan for another sweep when this one freed too little (the sample was off, or other
    /// processes hit pages meanwhile): probation first gives up four times younger pages, then
    /// the protected segment. False when it already evicts everything.
    pub fn loosen(&mut self) -> bool {
        for s in [Segment::Probation as usize, Segment::Protected as usize] {
            if self.cutoff[s] > 0 {
                self.cutoff[s] = self.cutoff[s].saturating_sub(8).min(BUCKETS - 8);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segment_survives_in_the_mtime() {
        let now = SystemTime::now();
        assert_eq!(segment(stamp(now, Segment::Protected)), Segment::Protected);
        assert_eq!(segment(stamp(now, Segment::Probation)), Segment::Probation);
        let d = now
            .duration_since(stamp(now, Segment::Probation))
            .unwrap_or_default();
        assert!(d < Duration::from_micros(1));
    }

    fn hist(pages: &[(Segment, u64)]) -> AgeHistogram {
        let mut h = AgeHistogram::default();
        for (s, age) in pages {
            h.add(*s, Duration::from_secs(*age), 1000);
        }
        h
    }

    #[test]
    fn probation_over_its_share_gives_first_oldest_first() {
        // 50 probation pages aged 0..50 min, 50 protected aged 0..50 min; capacity 100 pages.
        let mut pages = Vec::new();
        for i in 0..50 {
            pages.push((Segment::Probation, i * 60));
            pages.push((Segment::Protected, i * 60));
        }
        let plan = Plan::new(&hist(&pages), 100_000, 20_000, 100_000);
        let old = Duration::from_secs(49 * 60);
        assert!(plan.evicts(Segment::Probation, old));
        assert!(!plan.evicts(Segment::Probation, Duration::from_secs(60)));
        assert!(!plan.evicts(Segment::Protected, old));
    }

    #[test]
    fn protected_pages_go_when_probation_is_within_its_share() {
        let mut pages = vec![(Segment::Probation, 10); 5];
        pages.extend((0..95).map(|i| (Segment::Protected, i * 60)));
        let plan = Plan::new(&hist(&pages), 100_000, 10_000, 100_000);
        assert!(!plan.evicts(Segment::Probation, Duration::from_secs(10)));
        assert!(plan.evicts(Segment::Protected, Duration::from_secs(94 * 60)));
        assert!(!plan.evicts(Segment::Protected, Duration::from_secs(60)));
    }

    #[test]
    fn loosening_ends_at_everything() {
        let pages: Vec<_> = (0..100).map(|i| (Segment::Probation, i * 3600)).collect();
        let mut plan = Plan::new(&hist(&pages), 100_000, 1_000, 100_000);
        let mut n = 0;
        while plan.loosen() {
            n += 1;
        }
        assert!(n <= 2 * (BUCKETS / 8 + 2));
        assert!(plan.evicts(Segment::Probation, Duration::ZERO));
        assert!(plan.evicts(Segment::Protected, Duration::ZERO));
    }
}
