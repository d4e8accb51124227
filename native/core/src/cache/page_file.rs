//! The on-disk format of one cached page, and its verification.
//!
//! ```text
//! 0   magic "SHOALPG1"                      8 bytes
//! 8   file identity (xxh3-128 of store, key, version)  16
//! 24  page index                             u64 LE
//! 32  data length                            u32 LE
//! 36  chunk size                             u32 LE
//! 40  crc32c of bytes 0..40                  u32 LE
//! 44  reserved (0)                           u32
//! 48  crc32c of each chunk of the data       u32 LE each
//! ... zero padding up to DATA_OFFSET (4096)
//! 4096 the data
//! ```
//!
//! Opening a page checks the header (magic, identity, index, length, its own checksum, the
//! file's size). A read checks the checksum of every chunk it touches that has not been checked
//! through the same open handle before (`read_checked`; `open_pages` decides how long a handle
//! and its marks live), so a random 4 KiB read verifies 4 KiB, not the page, and a hit on
//! chunks already checked is one `pread` into the caller's buffer. Anything that fails is
//! reported as corrupt; the caller deletes the file and fetches anew.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

pub const MAGIC: &[u8; 8] = b"SHOALPG1";
const FIXED: usize = 48;
/// Where the data starts: one 4 KiB block of header, so data reads stay block aligned.
pub const DATA_OFFSET: u64 = 4096;
const MAX_CHUNKS: usize = (DATA_OFFSET as usize - FIXED) / 4;
const MIN_CHUNK: u32 = 4096;

/// The chunk size for a page size: 4 KiB, or larger when the page would need more chunks
/// than the header holds.
pub fn chunk_size_for(page_size: u64) -> u32 {
    let mut c = MIN_CHUNK;
    while (page_size.div_ceil(c as u64)) as usize > MAX_CHUNKS {
        c *= 2;
    }
    c
}

/// A page's identity: which file (by version) and which page of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageId {
    pub file: u128,
    pub index: u64,
}

/// The parsed, verified header of a page file.
#[derive(Debug, Clone)]
pub struct Header {
    pub id: PageId,
    pub len: u32,
    pub chunk: u32,
    pub crcs: Vec<u32>,
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, msg)
}

/// Encodes a page: header then data.
pub fn encode(id: PageId, chunk: u32, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DATA_OFFSET as usize + data.len()];
    out[..ID_END].copy_from_slice(&fixed_header(id, data.len() as u32, chunk));
    for (i, c) in data.chunks(chunk as usize).enumerate() {
        let at = FIXED + 4 * i;
        out[at..at + 4].copy_from_slice(&crc32c::crc32c(c).to_le_bytes());
    }
    out[DATA_OFFSET as usize..].copy_from_slice(data);
    out
}

/// The end of the header's part that depends on the page's id (magic, id, length, chunk size
/// and the checksum of those); the chunk checksums after it depend on the data alone.
const ID_END: usize = 44;

fn fixed_header(id: PageId, len: u32, chunk: u32) -> [u8; ID_END] {
    let mut out = [0u8; ID_END];
    out[0..8].copy_from_slice(MAGIC);
    out[8..24].copy_from_slice(&id.file.to_le_bytes());
    out[24..32].copy_from_slice(&id.index.to_le_bytes());
    out[32..36].copy_from_slice(&len.to_le_bytes());
    out[36..40].copy_from_slice(&chunk.to_le_bytes());
    let hcrc = crc32c::crc32c(&out[0..40]);
    out[40..44].copy_from_slice(&hcrc.to_le_bytes());
    out
}

/// Gives a page file encoded for another id (a page staged before its file's version was
/// known) the header of `id`, in place.
pub fn set_id(file: &File, id: PageId, len: u32, chunk: u32) -> Result<()> {
    use std::os::unix::fs::FileExt;
    Ok(file.write_all_at(&fixed_header(id, len, chunk), 0)?)
}

/// `set_id` on an encoded page in memory.
pub fn set_id_in(encoded: &mut [u8], id: PageId, len: u32, chunk: u32) {
    encoded[..ID_END].copy_from_slice(&fixed_header(id, len, chunk));
}

/// Reads and verifies the header of an open page file against what the caller expects. `size`
/// is the file's size (from the caller's `fstat`, which it also uses for recency). Only the
/// bytes the header can need for a page of `expect_len` are read, not the whole 4 KiB block.
pub fn read_header(file: &File, size: u64, expect: PageId, expect_len: u32) -> Result<Header> {
    let mut buf = [0u8; DATA_OFFSET as usize];
    let need = (FIXED + 4 * (expect_len as usize).div_ceil(MIN_CHUNK as usize)).min(buf.len());
    let n = read_full(file, &mut buf[..need], 0)?;
    if n < FIXED {
        return Err(corrupt("page file is truncated in its header"));
    }
    if &buf[0..8] != MAGIC {
        return Err(corrupt("not a Shoal page file (bad magic)"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
    if crc32c::crc32c(&buf[0..40]) != u32_at(40) {
        return Err(corrupt("page header checksum mismatch"));
    }
    let file_id = u128::from_le_bytes(buf[8..24].try_into().unwrap());
    let index = u64::from_le_bytes(buf[24..32].try_into().unwrap());
    let id = PageId {
        file: file_id,
        index,
    };
    if id != expect {
        return Err(corrupt("page file belongs to another page"));
    }
    let len = u32_at(32);
    if len != expect_len {
        return Err(corrupt(format!(
            "page holds {len} bytes where {expect_len} are expected"
        )));
    }
    let chunk = u32_at(36);
    if chunk < MIN_CHUNK || !chunk.is_power_of_two() {
        return Err(corrupt("page header has a bad chunk size"));
    }
    let chunks = (len as u64).div_ceil(chunk as u64) as usize;
    if chunks > MAX_CHUNKS {
        return Err(corrupt("page header has too many chunks"));
    }
    if n < FIXED + 4 * chunks {
        return Err(corrupt("page file is truncated in its header"));
    }
    let crcs = (0..chunks).map(|i| u32_at(FIXED + 4 * i)).collect();
    if size != DATA_OFFSET + len as u64 {
        return Err(corrupt(format!(
            "page file is {size} bytes, expected {}",
            DATA_OFFSET + len as u64
        )));
    }
    Ok(Header {
        id,
        len,
        chunk,
        crcs,
    })
}

/// Which chunks of a page have been checked through one open handle. Bits are only ever set
/// after a chunk's checksum matched; `clear` makes every chunk be checked again.
#[derive(Debug)]
pub struct Verified(Box<[AtomicU64]>);

impl Verified {
    pub fn new(chunks: usize) -> Self {
        Verified(
            (0..chunks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }

    pub fn is_set(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }

    fn set(&self, i: usize) {
        self.0[i / 64].fetch_or(1 << (i % 64), Ordering::Release);
    }

    fn all(&self, chunks: std::ops::RangeInclusive<usize>) -> bool {
        chunks.into_iter().all(|i| self.is_set(i))
    }

    pub fn clear(&self) {
        for w in self.0.iter() {
            w.store(0, Ordering::Release);
        }
    }
}

/// Reads `out.len()` bytes at `offset` within the page's data. Chunks already marked in
/// `verified` are read as they are, straight into `out`; otherwise the whole chunks touched are
/// read, checked, and marked. `scratch` is reused between calls to hold whole chunks when the
/// read is not chunk aligned.
pub fn read_checked(
    file: &File,
    header: &Header,
    verified: &Verified,
    offset: u64,
    out: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<()> {
    let end = offset + out.len() as u64;
    if end > header.len as u64 {
        return Err(Error::invalid("read past the end of a page"));
    }
    if out.is_empty() {
        return Ok(());
    }
    let chunk = header.chunk as u64;
    let (first, last) = ((offset / chunk) as usize, ((end - 1) / chunk) as usize);
    if verified.all(first..=last) {
        let n = read_full(file, out, DATA_OFFSET + offset)?;
        if n != out.len() {
            return Err(corrupt("page file is truncated"));
        }
        return Ok(());
    }
    read_span(file, header, offset, out, scratch, |i| verified.set(i))
}

/// Reads `out.len()` bytes at `offset` within the page's data, verifying every chunk touched.
/// `scratch` is reused between calls to hold whole chunks when the read is not chunk aligned.
pub fn read_verified(
    file: &File,
    header: &Header,
    offset: u64,
    out: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<()> {
    if offset + out.len() as u64 > header.len as u64 {
        return Err(Error::invalid("read past the end of a page"));
    }
    if out.is_empty() {
        return Ok(());
    }
    read_span(file, header, offset, out, scratch, |_| {})
}

/// Reads the whole chunks that `offset..offset + out.len()` touches, checks each, calls
/// `checked` with the index of each good one, and copies the bytes asked for into `out`.
fn read_span(
    file: &File,
    header: &Header,
    offset: u64,
    out: &mut [u8],
    scratch: &mut Vec<u8>,
    checked: impl Fn(usize),
) -> Result<()> {
    let end = offset + out.len() as u64;
    let chunk = header.chunk as u64;
    let first = offset / chunk;
    let last = (end - 1) / chunk;
    let span_start = first * chunk;
    let span_end = ((last + 1) * chunk).min(header.len as u64);
    let aligned = span_start == offset && span_end == end;
    let buf: &mut [u8] = if aligned {
        out
    } else {
        scratch.resize((span_end - span_start) as usize, 0);
        &mut scratch[..]
    };
    let n = read_full(file, buf, DATA_OFFSET + span_start)?;
    if n != buf.len() {
        return Err(corrupt("page file is truncated"));
    }
    for (i, c) in buf.chunks(chunk as usize).enumerate() {
        let at = first as usize + i;
        if crc32c::crc32c(c) != header.crcs[at] {
            return Err(corrupt(format!(
                "checksum mismatch in chunk {at} of the page"
            )));
        }
        checked(at);
    }
    if !aligned {
        let from = (offset - span_start) as usize;
        out.copy_from_slice(&scratch[from..from + out.len()]);
    }
    Ok(())
}

/// The page a page file's name (`<file id>_<index>`) says it holds.
pub fn parse_name(path: &std::path::Path) -> Result<PageId> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| corrupt("page file name is not UTF-8"))?;
    let (hex, index) = name
        .split_once('_')
        .ok_or_else(|| corrupt("not a page file name"))?;
    Ok(PageId {
        file: u128::from_str_radix(hex, 16).map_err(|_| corrupt("not a page file name"))?,
        index: index.parse().map_err(|_| corrupt("not a page file name"))?,
    })
}

/// Verifies a page file on its own: its name (`<file id>_<index>`) against its header, its
/// size, and every chunk's checksum. Returns the data length.
pub fn verify_file(path: &std::path::Path) -> Result<u32> {
    let id = parse_name(path)?;
    let file = File::open(path)?;
    let mut fixed = [0u8; FIXED];
    if read_full(&file, &mut fixed, 0)? < FIXED {
        return Err(corrupt("page file is truncated in its header"));
    }
    let len = u32::from_le_bytes(fixed[32..36].try_into().unwrap());
    let header = read_header(&file, file.metadata()?.len(), id, len)?;
    let mut data = vec![0u8; len as usize];
    read_verified(&file, &header, 0, &mut data, &mut Vec::new())?;
    Ok(len)
}

fn read_full(file: &File, buf: &mut [u8], at: u64) -> Result<usize> {
    Ok(crate::pread::read_full_at(file, buf, at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn hdr(file: &File, id: PageId, len: u32) -> Result<Header> {
        read_header(file, file.metadata().unwrap().len(), id, len)
    }

    fn page(data: &[u8], id: PageId) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes = encode(id, chunk_size_for(1 << 20), data);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        (f, bytes)
    }

    #[test]
    fn round_trip_any_range() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let id = PageId { file: 7, index: 3 };
        let (f, _) = page(&data, id);
        let file = f.reopen().unwrap();
        let h = hdr(&file, id, data.len() as u32).unwrap();
        let mut scratch = Vec::new();
        for (off, len) in [
            (0, 4096),
            (1, 10),
            (4095, 2),
            (8192, 4096),
            (99_990, 10),
            (0, 100_000),
        ] {
            let mut out = vec![0u8; len];
            read_verified(&file, &h, off as u64, &mut out, &mut scratch).unwrap();
            assert_eq!(out, &data[off..off + len]);
        }
    }

    #[test]
    fn detects_foreign_truncated_and_flipped_pages() {
        let data = vec![5u8; 50_000];
        let id = PageId { file: 1, index: 0 };
        let (f, bytes) = page(&data, id);
        let file = f.reopen().unwrap();
        // Another page's identity, or another length.
        assert_eq!(
            hdr(&file, PageId { file: 2, index: 0 }, 50_000)
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
        assert!(hdr(&file, id, 49_999).is_err());
        // A flipped data byte fails only the chunk that holds it.
        let mut bad = bytes.clone();
        bad[DATA_OFFSET as usize + 10_000] ^= 1;
        std::fs::write(f.path(), &bad).unwrap();
        let file = f.reopen().unwrap();
        let h = hdr(&file, id, 50_000).unwrap();
        let mut out = vec![0u8; 100];
        let mut s = Vec::new();
        read_verified(&file, &h, 0, &mut out, &mut s).unwrap();
        let e = read_verified(&file, &h, 9_990, &mut out, &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // Truncation, and garbage.
        std::fs::write(f.path(), &bytes[..bytes.len() - 1]).unwrap();
        assert!(hdr(&f.reopen().unwrap(), id, 50_000).is_err());
        std::fs::write(f.path(), b"hello").unwrap();
        assert!(hdr(&f.reopen().unwrap(), id, 50_000).is_err());
    }

    #[test]
    fn chunks_are_checked_once_per_handle_until_cleared() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 249) as u8).collect();
        let id = PageId { file: 9, index: 1 };
        let (f, bytes) = page(&data, id);
        let file = f.reopen().unwrap();
        let h = hdr(&file, id, data.len() as u32).unwrap();
        let v = Verified::new(h.crcs.len());
        let mut s = Vec::new();
        let mut out = vec![0u8; 5000];
        // Unaligned, across chunks 0 and 1: both checked and marked.
        read_checked(&file, &h, &v, 100, &mut out, &mut s).unwrap();
        assert_eq!(out, &data[100..5100]);
        assert!(v.all(0..=1) && !v.is_set(2));
        // A chunk never read through this handle is checked when first read, however the
        // file changed since the header was read.
        let mut bad = bytes.clone();
        bad[DATA_OFFSET as usize + 3 * 4096 + 7] ^= 1;
        bad[DATA_OFFSET as usize + 10] ^= 1;
        std::fs::write(f.path(), &bad).unwrap();
        let e = read_checked(&file, &h, &v, 3 * 4096, &mut out[..10], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(!v.is_set(3));
        // The trade-off: chunk 0 was checked before it changed, so it is read as it is now,
        // until the marks are cleared.
        read_checked(&file, &h, &v, 0, &mut out[..20], &mut s).unwrap();
        assert_ne!(out[..20], data[..20]);
        v.clear();
        let e = read_checked(&file, &h, &v, 0, &mut out[..20], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // Truncated under a handle whose chunks are all marked: reported, never short.
        std::fs::write(f.path(), &bytes).unwrap();
        let last = data.len() - 10;
        read_checked(&file, &h, &v, last as u64, &mut out[..10], &mut s).unwrap();
        std::fs::write(f.path(), &bytes[..bytes.len() - 5]).unwrap();
        let e = read_checked(&file, &h, &v, last as u64, &mut out[..10], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn header_reads_only_what_it_needs_and_checks_it() {
        let data = vec![1u8; 10_000];
        let id = PageId { file: 3, index: 0 };
        let (f, bytes) = page(&data, id);
        // The header of a 3-chunk page is 60 bytes; a file cut inside them is corrupt.
        std::fs::write(f.path(), &bytes[..56]).unwrap();
        let file = f.reopen().unwrap();
        assert_eq!(
            read_header(&file, bytes.len() as u64, id, 10_000)
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
        std::fs::write(f.path(), &bytes).unwrap();
        assert_eq!(hdr(&f.reopen().unwrap(), id, 10_000).unwrap().crcs.len(), 3);
    }

    #[test]
    fn chunk_sizes_fit_the_header() {
        assert_eq!(chunk_size_for(1 << 20), 4096);
        assert!(((64u64 << 20).div_ceil(chunk_size_for(64 << 20) as u64)) as usize <= MAX_CHUNKS);
    }
}
