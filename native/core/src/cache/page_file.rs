//! The on-disk format of one cached page, and its verification.
//!
//! ```text
//! 0          the data                                      len bytes
//! len        crc32c of each chunk of the data              u32 LE each, n = ceil(len / chunk)
//! len + 4n   trailer:
//!   0   magic "SHOALPG2"                                   8 bytes
//!   8   file identity (xxh3-128 of the store's identity, key, version)  16
//!   24  page index                                         u64 LE
//!   32  ETag binding: xxh3-64 of the ETag the bytes were read with, 0 when the store gave none
//!   40  page size the file was cut with                   u32 LE
//!   44  data length                                        u32 LE
//!   48  chunk size                                         u32 LE
//!   52  crc32c of trailer bytes 0..52                      u32 LE
//! ```
//!
//! The data starts at offset 0, so reads of it stay aligned as the file's blocks are, and a page
//! costs its data plus 56 bytes and 4 per 4 KiB chunk: a 6,000-byte object is one 6,064-byte
//! file (two 4 KiB blocks). The layout before this one (`v1`, magic `SHOALPG1`) kept a 4 KiB header
//! in front of the data; its directories are never read by this code.
//!
//! Opening a page checks the trailer (magic, identity, index, page size, length, chunk size, its
//! own checksum, the file's size) with one read. A read checks the checksum of every chunk it
//! touches that has not been checked through the same open handle before (`read_checked`;
//! `open_pages` decides how long a handle and its marks live), so a random 4 KiB read verifies
//! 4 KiB, not the page, and a hit on chunks already checked is one `pread` into the caller's
//! buffer. Anything that fails is reported as corrupt; the caller deletes the file and fetches
//! anew. The ETag binding is not checked here: the reader compares it with the ETag it is bound
//! to (`FileSource`).

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

pub const MAGIC: &[u8; 8] = b"SHOALPG2";
/// Bytes of the trailer after the chunk checksums.
pub const TRAILER: usize = 56;
/// Where the data starts.
pub const DATA_OFFSET: u64 = 0;
/// At most this many chunks per page (the chunk size grows with the page size to keep it).
const MAX_CHUNKS: usize = 1012;
const MIN_CHUNK: u32 = 4096;

/// The chunk size for a page size: 4 KiB, or larger when the page would need more chunks
/// than `MAX_CHUNKS`.
pub fn chunk_size_for(page_size: u64) -> u32 {
    let mut c = MIN_CHUNK;
    while (page_size.div_ceil(c as u64)) as usize > MAX_CHUNKS {
        c *= 2;
    }
    c
}

/// The size of the page file of a page of `len` bytes cut with `chunk`.
pub fn file_size(len: u32, chunk: u32) -> u64 {
    len as u64 + 4 * (len as u64).div_ceil(chunk as u64) + TRAILER as u64
}

/// A page's identity: which file (by version) and which page of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageId {
    pub file: u128,
    pub index: u64,
}

/// What a page file must say about itself to be the page a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub id: PageId,
    pub page_size: u32,
    pub len: u32,
}

impl Expect {
    pub fn chunk(&self) -> u32 {
        chunk_size_for(self.page_size as u64)
    }
}

/// The ETag binding of a page read with `etag`: 0 when there is none. Quotes do not count
/// (listings give some stores' ETags bare, responses quoted); a weak ETag stays weak.
pub fn etag_tag(etag: Option<&str>) -> u64 {
    let Some(e) = etag else {
        return 0;
    };
    let e = e.trim();
    let (weak, e) = match e.strip_prefix("W/") {
        Some(rest) => (&b"W/"[..], rest),
        None => (&b""[..], e),
    };
    let e = e.strip_prefix('"').unwrap_or(e);
    let e = e.strip_suffix('"').unwrap_or(e);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(weak);
    h.update(e.as_bytes());
    // 0 stays "none"; a real ETag hashing to 0 is taken as 1.
    h.digest().max(1)
}

/// The parsed, verified trailer of a page file.
#[derive(Debug, Clone)]
pub struct Header {
    /// Where the page's data starts in its file: 0 for a page file, after the entry's head
    /// for a page in a pack (`pack`).
    pub base: u64,
    pub id: PageId,
    /// The ETag binding (`etag_tag`) of the bytes.
    pub etag: u64,
    pub page_size: u32,
    pub len: u32,
    pub chunk: u32,
    pub crcs: Vec<u32>,
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, msg)
}

/// Encodes a page: data, chunk checksums, trailer.
pub fn encode(e: Expect, etag: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file_size(e.len, e.chunk()) as usize);
    out.extend_from_slice(data);
    out.extend_from_slice(&tail(e, etag, data));
    out
}

/// What follows a page's data in its file: the chunk checksums and the trailer (so the data
/// need not be copied to be written).
pub fn tail(e: Expect, etag: u64, data: &[u8]) -> Vec<u8> {
    debug_assert_eq!(e.len as usize, data.len());
    let chunk = e.chunk();
    let mut out = Vec::with_capacity(4 * data.len().div_ceil(chunk as usize) + TRAILER);
    for c in data.chunks(chunk as usize) {
        out.extend_from_slice(&crc32c::crc32c(c).to_le_bytes());
    }
    out.extend_from_slice(&trailer(e, etag));
    out
}

fn trailer(e: Expect, etag: u64) -> [u8; TRAILER] {
    let mut out = [0u8; TRAILER];
    out[0..8].copy_from_slice(MAGIC);
    out[8..24].copy_from_slice(&e.id.file.to_le_bytes());
    out[24..32].copy_from_slice(&e.id.index.to_le_bytes());
    out[32..40].copy_from_slice(&etag.to_le_bytes());
    out[40..44].copy_from_slice(&e.page_size.to_le_bytes());
    out[44..48].copy_from_slice(&e.len.to_le_bytes());
    out[48..52].copy_from_slice(&e.chunk().to_le_bytes());
    let crc = crc32c::crc32c(&out[0..52]);
    out[52..56].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Gives a page file encoded for another id (a page staged before its file's version was
/// known) the trailer of `e`, in place.
pub fn set_id(file: &File, e: Expect, etag: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let at = file_size(e.len, e.chunk()) - TRAILER as u64;
    Ok(file.write_all_at(&trailer(e, etag), at)?)
}

/// `set_id` on an encoded page in memory.
pub fn set_id_in(encoded: &mut [u8], e: Expect, etag: u64) {
    let at = encoded.len() - TRAILER;
    encoded[at..].copy_from_slice(&trailer(e, etag));
}

/// Parses a trailer and checks its own checksum and magic.
fn parse_trailer(t: &[u8]) -> Result<(PageId, u64, u32, u32, u32)> {
    if &t[0..8] != MAGIC {
        return Err(corrupt("not a Shoal page file (bad magic)"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(t[at..at + 4].try_into().unwrap());
    if crc32c::crc32c(&t[0..52]) != u32_at(52) {
        return Err(corrupt("page trailer checksum mismatch"));
    }
    let id = PageId {
        file: u128::from_le_bytes(t[8..24].try_into().unwrap()),
        index: u64::from_le_bytes(t[24..32].try_into().unwrap()),
    };
    let etag = u64::from_le_bytes(t[32..40].try_into().unwrap());
    Ok((id, etag, u32_at(40), u32_at(44), u32_at(48)))
}

/// Reads and verifies the trailer of an open page file against what the caller expects: its
/// identity, index, page size and length. `size` is the file's size (from the caller's `fstat`,
/// which it also uses for recency). One read of the checksums and the trailer.
pub fn read_header(file: &File, size: u64, expect: Expect) -> Result<Header> {
    read_header_at(file, DATA_OFFSET, size, expect)
}

/// `read_header` of a page whose encoding (`size` bytes) starts at `base` in `file`.
pub fn read_header_at(file: &File, base: u64, size: u64, expect: Expect) -> Result<Header> {
    let chunk = expect.chunk();
    let want = file_size(expect.len, chunk);
    if size != want {
        return Err(corrupt(format!(
            "page file is {size} bytes, expected {want} for a page of {} bytes",
            expect.len
        )));
    }
    let chunks = (expect.len as u64).div_ceil(chunk as u64) as usize;
    if chunks > MAX_CHUNKS {
        return Err(Error::invalid("a page longer than its page size"));
    }
    let mut space = [0u8; 4 * MAX_CHUNKS + TRAILER];
    let buf = &mut space[..4 * chunks + TRAILER];
    let n = read_full(file, buf, base + expect.len as u64)?;
    if n < buf.len() {
        return Err(corrupt("page file is truncated"));
    }
    let (id, etag, page_size, len, got_chunk) = parse_trailer(&buf[4 * chunks..])?;
    if id != expect.id {
        return Err(corrupt("page file belongs to another page"));
    }
    if page_size != expect.page_size {
        return Err(corrupt(format!(
            "page file was cut with pages of {page_size} bytes, not {}",
            expect.page_size
        )));
    }
    if len != expect.len {
        return Err(corrupt(format!(
            "page holds {len} bytes where {} are expected",
            expect.len
        )));
    }
    if got_chunk != chunk {
        return Err(corrupt("page trailer has a bad chunk size"));
    }
    let crcs = buf[..4 * chunks]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(Header {
        base,
        id,
        etag,
        page_size,
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
/// read, checked, and marked (with no `verified`, every chunk touched is read and checked).
/// `scratch` is reused between calls to hold whole chunks when the read is not chunk aligned.
pub fn read_checked(
    file: &File,
    header: &Header,
    verified: Option<&Verified>,
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
    if verified.is_some_and(|v| v.all(first..=last)) {
        let n = read_full(file, out, header.base + offset)?;
        if n != out.len() {
            return Err(corrupt("page file is truncated"));
        }
        return Ok(());
    }
    read_span(file, header, offset, out, scratch, |i| {
        if let Some(v) = verified {
            v.set(i);
        }
    })
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
    let n = read_full(file, buf, header.base + span_start)?;
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

/// The page a page file's name (`<file id>_<page size>_<index>`) says it holds, and its page
/// size.
pub fn parse_name(path: &std::path::Path) -> Result<(PageId, u32)> {
    let bad = || corrupt("not a page file name");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| corrupt("page file name is not UTF-8"))?;
    let mut parts = name.split('_');
    let (Some(hex), Some(size), Some(index), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if hex.len() != 32 {
        return Err(bad());
    }
    Ok((
        PageId {
            file: u128::from_str_radix(hex, 16).map_err(|_| bad())?,
            index: index.parse().map_err(|_| bad())?,
        },
        size.parse().map_err(|_| bad())?,
    ))
}

/// The name of a page's file.
pub fn file_name(id: PageId, page_size: u32) -> String {
    format!("{:032x}_{page_size}_{}", id.file, id.index)
}

/// Verifies an open page file on its own: its name (`<file id>_<page size>_<index>`) against
/// its trailer, its size, and every chunk's checksum. Returns the data length.
pub fn verify_file(path: &std::path::Path, file: &File) -> Result<u32> {
    let (id, page_size) = parse_name(path)?;
    let e = verify_at(file, DATA_OFFSET, file.metadata()?.len())?;
    if e.id != id || e.page_size != page_size {
        return Err(corrupt("page file belongs to another page"));
    }
    Ok(e.len)
}

/// Verifies the encoded page of `size` bytes at `base` in `file` on its own (what its trailer
/// says, its size, every chunk's checksum); returns what it holds.
pub fn verify_at(file: &File, base: u64, size: u64) -> Result<Expect> {
    if size < TRAILER as u64 {
        return Err(corrupt("page file is truncated"));
    }
    let mut t = [0u8; TRAILER];
    if read_full(file, &mut t, base + size - TRAILER as u64)? < TRAILER {
        return Err(corrupt("page file is truncated"));
    }
    let (id, _, page_size, len, _) = parse_trailer(&t)?;
    if page_size as u64 > MAX_PAGE_SIZE || len > page_size {
        return Err(corrupt("page trailer has a bad length"));
    }
    let expect = Expect { id, page_size, len };
    let header = read_header_at(file, base, size, expect)?;
    let mut data = vec![0u8; len as usize];
    read_checked(file, &header, None, 0, &mut data, &mut Vec::new())?;
    Ok(expect)
}

/// The largest page size a page file may name.
const MAX_PAGE_SIZE: u64 = 64 << 20;

fn read_full(file: &File, buf: &mut [u8], at: u64) -> Result<usize> {
    Ok(crate::pread::read_full_at(file, buf, at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    const PS: u32 = 1 << 20;

    fn expect(id: PageId, len: u32) -> Expect {
        Expect {
            id,
            page_size: PS,
            len,
        }
    }

    fn hdr(file: &File, id: PageId, len: u32) -> Result<Header> {
        read_header(file, file.metadata().unwrap().len(), expect(id, len))
    }

    fn page(data: &[u8], id: PageId) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes = encode(expect(id, data.len() as u32), 77, data);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        (f, bytes)
    }

    #[test]
    fn round_trip_any_range() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let id = PageId { file: 7, index: 3 };
        let (f, bytes) = page(&data, id);
        // The data first, then 25 chunk checksums and the trailer.
        assert_eq!(bytes.len(), 100_000 + 25 * 4 + TRAILER);
        assert_eq!(&bytes[..100_000], &data[..]);
        let file = f.reopen().unwrap();
        let h = hdr(&file, id, data.len() as u32).unwrap();
        assert_eq!((h.etag, h.page_size, h.chunk), (77, PS, 4096));
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
            read_checked(&file, &h, None, off as u64, &mut out, &mut scratch).unwrap();
            assert_eq!(out, &data[off..off + len]);
        }
    }

    #[test]
    fn detects_foreign_truncated_and_flipped_pages() {
        let data = vec![5u8; 50_000];
        let id = PageId { file: 1, index: 0 };
        let (f, bytes) = page(&data, id);
        let file = f.reopen().unwrap();
        // Another page's identity, or another length, or another page size.
        assert_eq!(
            hdr(&file, PageId { file: 2, index: 0 }, 50_000)
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
        assert!(hdr(&file, id, 49_999).is_err());
        let other_size = Expect {
            page_size: PS * 2,
            ..expect(id, 50_000)
        };
        let e = read_header(&file, bytes.len() as u64, other_size).unwrap_err();
        assert!(e.message().contains("cut with pages of"), "{e}");
        // A flipped data byte fails only the chunk that holds it.
        let mut bad = bytes.clone();
        bad[DATA_OFFSET as usize + 10_000] ^= 1;
        std::fs::write(f.path(), &bad).unwrap();
        let file = f.reopen().unwrap();
        let h = hdr(&file, id, 50_000).unwrap();
        let mut out = vec![0u8; 100];
        let mut s = Vec::new();
        read_checked(&file, &h, None, 0, &mut out, &mut s).unwrap();
        let e = read_checked(&file, &h, None, 9_990, &mut out, &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // A flipped trailer byte.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 20] ^= 1;
        std::fs::write(f.path(), &bad).unwrap();
        assert!(hdr(&f.reopen().unwrap(), id, 50_000).is_err());
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
        read_checked(&file, &h, Some(&v), 100, &mut out, &mut s).unwrap();
        assert_eq!(out, &data[100..5100]);
        assert!(v.all(0..=1) && !v.is_set(2));
        // A chunk never read through this handle is checked when first read, however the
        // file changed since the header was read.
        let mut bad = bytes.clone();
        bad[DATA_OFFSET as usize + 3 * 4096 + 7] ^= 1;
        bad[DATA_OFFSET as usize + 10] ^= 1;
        std::fs::write(f.path(), &bad).unwrap();
        let e = read_checked(&file, &h, Some(&v), 3 * 4096, &mut out[..10], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(!v.is_set(3));
        // The trade-off: chunk 0 was checked before it changed, so it is read as it is now,
        // until the marks are cleared.
        read_checked(&file, &h, Some(&v), 0, &mut out[..20], &mut s).unwrap();
        assert_ne!(out[..20], data[..20]);
        v.clear();
        let e = read_checked(&file, &h, Some(&v), 0, &mut out[..20], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // Truncated into the data under a handle whose chunks are all marked: reported,
        // never short.
        std::fs::write(f.path(), &bytes).unwrap();
        let last = data.len() - 10;
        read_checked(&file, &h, Some(&v), last as u64, &mut out[..10], &mut s).unwrap();
        std::fs::write(f.path(), &bytes[..data.len() - 5]).unwrap();
        let e = read_checked(&file, &h, Some(&v), last as u64, &mut out[..10], &mut s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn the_trailer_is_read_at_once_and_checked() {
        let data = vec![1u8; 10_000];
        let id = PageId { file: 3, index: 0 };
        let (f, bytes) = page(&data, id);
        // A file cut inside its checksums or trailer is corrupt, whatever size it claims.
        std::fs::write(f.path(), &bytes[..10_010]).unwrap();
        let file = f.reopen().unwrap();
        assert_eq!(
            read_header(&file, bytes.len() as u64, expect(id, 10_000))
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
        std::fs::write(f.path(), &bytes).unwrap();
        assert_eq!(hdr(&f.reopen().unwrap(), id, 10_000).unwrap().crcs.len(), 3);
        // A page staged under another id gets its real one in place.
        let real = PageId { file: 4, index: 9 };
        set_id(&f.reopen().unwrap(), expect(real, 10_000), 5).unwrap();
        let h = hdr(&f.reopen().unwrap(), real, 10_000).unwrap();
        assert_eq!(h.etag, 5);
        assert!(hdr(&f.reopen().unwrap(), id, 10_000).is_err());
    }

    #[test]
    fn verify_reads_the_name_and_the_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let id = PageId {
            file: 0xabc,
            index: 2,
        };
        let data = vec![9u8; 70_000];
        let path = dir.path().join(file_name(id, PS));
        std::fs::write(&path, encode(expect(id, 70_000), 0, &data)).unwrap();
        assert_eq!(parse_name(&path).unwrap(), (id, PS));
        assert_eq!(
            verify_file(&path, &File::open(&path).unwrap()).unwrap(),
            70_000
        );
        // The same bytes under the name of another page size, or another page.
        for other in [
            file_name(id, PS / 2),
            file_name(PageId { index: 3, ..id }, PS),
        ] {
            let p = dir.path().join(other);
            std::fs::copy(&path, &p).unwrap();
            assert!(verify_file(&p, &File::open(&p).unwrap()).is_err());
        }
        for bad in ["x", "1_2", "00_1_2", &format!("{:032x}_1_2_3", 5)] {
            assert!(parse_name(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunk_sizes_fit_the_trailer_bound() {
        assert_eq!(chunk_size_for(1 << 20), 4096);
        assert!(((64u64 << 20).div_ceil(chunk_size_for(64 << 20) as u64)) as usize <= MAX_CHUNKS);
        assert_eq!(etag_tag(None), 0);
        assert_ne!(etag_tag(Some("\"a\"")), etag_tag(Some("\"b\"")));
        assert_eq!(etag_tag(Some("\"0x8D1\"")), etag_tag(Some("0x8D1")));
        assert_ne!(etag_tag(Some("W/\"a\"")), etag_tag(Some("\"a\"")));
    }
}
