//! Positioned reads of local files that stay fast whatever the alignment of the caller's buffer.
//!
//! The kernel copies file data to user memory with `rep movsb`. On some CPUs (measured on this
//! project's AMD EPYC machines) that copy runs about 4x slower when the destination is a few bytes
//! past the source within a 4 KiB page: `(dst - src) mod 4096` in `1..=31`. A reader that reuses
//! one buffer (a JNI staging buffer, a stream's direct buffer) lands in that window either on every
//! read or on none, depending on where the allocator happened to place the buffer in that process:
//! a whole run of a warm cache was 3x slower than the next run of the same binary. Reads whose
//! alignment falls in (a margin around) that window go through a per-thread bounce buffer placed
//! half a page away from both: the extra copy costs far less than the slow one. (glibc's `memcpy`
//! also uses `rep movsb` for mid-sized copies and is as slow in the same window, so the bounce
//! buffer must not sit at the source's alignment either.)

use std::cell::RefCell;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

const PAGE: usize = 4096;
/// Reads shorter than this are not worth a second copy.
const MIN_BOUNCE: usize = 1024;
/// The bounce buffer is used in pieces of at most this size.
const PIECE: usize = 128 << 10;
/// `(dst - src) mod 4096` below this (and not 0) takes the bounce buffer. The slow window
/// measured is `1..=31`; the margin covers CPUs whose window is a cache line.
const SLOW_WINDOW: usize = 64;

/// A zero-filled byte buffer whose start is 4 KiB aligned.
#[derive(Default)]
pub struct AlignedBuf {
    blocks: Vec<Block>,
}

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; PAGE]);

impl AlignedBuf {
    /// The first `len` bytes, growing the buffer when it is shorter.
    pub fn get(&mut self, len: usize) -> &mut [u8] {
        let blocks = len.div_ceil(PAGE);
        if self.blocks.len() < blocks {
            self.blocks.resize(blocks, Block([0; PAGE]));
        }
        // Safety: the blocks are plain bytes laid out back to back (`repr(C)`, size = align),
        // and `len <= blocks * PAGE` bytes of them are owned by `self.blocks`.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr() as *mut u8, len) }
    }

    /// Bytes held.
    pub fn capacity(&self) -> usize {
        self.blocks.len() * PAGE
    }

    /// Gives the memory back.
    pub fn clear(&mut self) {
        self.blocks = Vec::new();
    }
}

thread_local! {
    static BOUNCE: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
}

/// Whether a read into `dst` from file offset `at` falls in the slow copy window.
fn slow_alignment(dst: &[u8], at: u64) -> bool {
    let delta = (dst.as_ptr() as usize).wrapping_sub(at as usize) % PAGE;
    dst.len() >= MIN_BOUNCE && delta != 0 && delta < SLOW_WINDOW
}

/// Reads `buf.len()` bytes at `at`, fewer only at the end of the file; returns how many.
pub fn read_full_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    if !slow_alignment(buf, at) {
        return read_direct(file, buf, at);
    }
    BOUNCE.with(|b| {
        let mut bounce = b.borrow_mut();
        // Half a page away from both the source and the destination: neither copy is slow.
        let skew = (at as usize + PAGE / 2) % PAGE;
        let mut done = 0;
        while done < buf.len() {
            let want = (buf.len() - done).min(PIECE);
            let space = &mut bounce.get(skew + want)[skew..];
            let n = read_direct(file, space, at + done as u64)?;
            buf[done..done + n].copy_from_slice(&space[..n]);
            done += n;
            if n < want {
                break;
            }
        }
        Ok(done)
    })
}

fn read_direct(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    #[test]
    fn aligned_buffers_start_on_a_page() {
        let mut b = AlignedBuf::default();
        for len in [1, 4096, 5000, 1 << 20] {
            let s = b.get(len);
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % PAGE, 0);
        }
        assert_eq!(b.capacity(), 1 << 20);
        b.clear();
        assert_eq!(b.capacity(), 0);
    }

    #[test]
    fn every_alignment_reads_the_same_bytes() {
        let want = data(700_000);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&want).unwrap();
        let mut buf = AlignedBuf::default();
        let mut bounced = 0;
        // Destinations at every skew of the slow window and around it, sources at several
        // offsets, lengths across the bounce piece size and past the end of the file.
        for at in [0u64, 1, 4095, 4096, 12_345] {
            for skew in [0usize, 1, 16, 31, 63, 64, 100] {
                for len in [10usize, 4096, 300_000, 700_000] {
                    let space = &mut buf.get(skew + PAGE + len)[..];
                    let shift = (at as usize + skew) % PAGE;
                    let dst = &mut space[shift..shift + len];
                    dst.fill(0xEE);
                    bounced += slow_alignment(dst, at) as usize;
                    let n = read_full_at(&f, dst, at).unwrap();
                    let end = (at as usize + len).min(want.len());
                    assert_eq!(n, end - at as usize, "at {at} skew {skew} len {len}");
                    assert_eq!(&dst[..n], &want[at as usize..end]);
                    assert!(dst[n..].iter().all(|&b| b == 0xEE), "wrote past the data");
                }
            }
        }
        // The test covered both paths.
        assert!(bounced > 0);
    }
}
