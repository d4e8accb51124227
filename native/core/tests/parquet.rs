//! Parquet-aware reads against a real S3 server (s3s-fs): a row group's column chunks come in
//! coalesced GETs, bytes stay right, files that are not Parquet (or whose footer is truncated
//! or corrupt) are read as any file, footers are kept per version, and `load_footer` warms them.

use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use shoal_core::cache::parquet::Layout;
use shoal_core::stats::COUNTER_NAMES;
use shoal_core::{Config, FileReader, Namespace};
use shoal_testkit::S3Server;

fn counter(stats: &[u64], name: &str) -> u64 {
    stats[COUNTER_NAMES.iter().position(|n| *n == name).unwrap()]
}

use shoal_testkit::noise;

/// A Parquet file of `columns` binary columns and `row_groups` row groups of `rows` values of
/// `value_len` bytes each, uncompressed, as Spark would find it in a dataset.
fn parquet_file(
    columns: usize,
    row_groups: usize,
    rows: usize,
    value_len: usize,
    seed: u64,
) -> Vec<u8> {
    let fields: String = (0..columns)
        .map(|c| format!("required binary c{c};"))
        .collect();
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(&format!("message m {{ {fields} }}")).unwrap(),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .build(),
    );
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    for g in 0..row_groups {
        let mut rg = w.next_row_group().unwrap();
        let mut c = 0;
        while let Some(mut col) = rg.next_column().unwrap() {
            let values: Vec<ByteArray> = (0..rows)
                .map(|r| {
                    ByteArray::from(noise(
                        value_len,
                        seed * 1_000_003 + (g * 1000 + c * 100 + r) as u64,
                    ))
                })
                .collect();
            col.typed::<ByteArrayType>()
                .write_batch(&values, None, None)
                .unwrap();
            col.close().unwrap();
            c += 1;
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
    out
}

fn layout_of(file: &[u8]) -> Layout {
    let len = file.len();
    let meta_len = u32::from_le_bytes(file[len - 8..len - 4].try_into().unwrap()) as usize;
    let data_end = len - 8 - meta_len;
    Layout::parse(&file[data_end..len - 8], data_end as u64).expect("a layout")
}

/// A namespace over the S3 mount the cache tests use (`S3Server::cache_test_conf`).
fn namespace(server: &S3Server, cache_dir: &Path, extra: &[(&str, &str)]) -> Namespace {
    Namespace::new(&Config::from_pairs(
        server.cache_test_conf(cache_dir, extra),
    ))
    .unwrap()
}

fn put(server: &S3Server, key: &str, data: &[u8]) {
    server.put("bucket", key, data);
}

fn read(r: &FileReader, pos: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    assert_eq!(r.read_at(pos, &mut out).unwrap(), len);
    out
}

/// Reads like parquet-mr: the footer's length and magic, the footer, then each row group's
/// chunks in order, each in reads of `step` bytes; true when every byte read is the file's
/// (the page index between the row groups and the footer is not read).
fn read_like_parquet_mr(r: &FileReader, layout: &Layout, step: usize, file: &[u8]) -> bool {
    let len = r.len();
    // What was not read stays unlike the file's bytes; only what was read is compared.
    let mut seen: Vec<u8> = file.iter().map(|b| !b).collect();
    let mut read_at = vec![false; len as usize];
    let tail = read(r, len - 8, 8);
    seen[len as usize - 8..].copy_from_slice(&tail);
    read_at[len as usize - 8..].fill(true);
    let meta_len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as u64;
    let meta = read(r, len - 8 - meta_len, meta_len as usize);
    seen[(len - 8 - meta_len) as usize..(len - 8) as usize].copy_from_slice(&meta);
    read_at[(len - 8 - meta_len) as usize..(len - 8) as usize].fill(true);
    for rg in 0..layout.row_groups() {
        for chunk in layout.chunks(rg) {
            let mut pos = chunk.start;
            while pos < chunk.end {
                let n = step.min((chunk.end - pos) as usize);
                let got = read(r, pos, n);
                seen[pos as usize..pos as usize + n].copy_from_slice(&got);
                read_at[pos as usize..pos as usize + n].fill(true);
                pos += n as u64;
            }
        }
    }
    seen[..4].copy_from_slice(&read(r, 0, 4));
    read_at[..4].fill(true);
    let chunks: u64 = (0..layout.row_groups())
        .flat_map(|rg| layout.chunks(rg).iter().map(|c| c.end - c.start))
        .sum();
    assert!(read_at.iter().filter(|r| **r).count() as u64 > chunks);
    (0..len as usize).all(|i| !read_at[i] || seen[i] == file[i])
}

#[test]
fn a_row_group_comes_in_one_coalesced_get_and_every_byte_is_right() {
    let server = S3Server::start();
    // 4 columns of 12 values of 40 KB: about 480 KB a chunk, 1.9 MB a row group, 30 pages
    // of 64 KiB; two row groups.
    let file = parquet_file(4, 2, 12, 40_000, 1);
    let layout = layout_of(&file);
    assert_eq!(layout.row_groups(), 2);
    put(&server, "t/part-0.parquet", &file);
    put(&server, "t/part-1.parquet", &file);

    let cache = tempfile::tempdir().unwrap();
    let ns = namespace(&server, cache.path(), &[]);
    let r = ns.open("/s3/t/part-0.parquet", None).unwrap();
    assert!(
        read_like_parquet_mr(&r, &layout, 64 << 10, &file),
        "bytes differ"
    );
    let s = r.stats();
    assert_eq!(counter(&s, "parquet_footers"), 1, "{s:?}");
    // One GET per row group (each under shoal.parquet.coalesce.max), plus the footer's pages,
    // plus read-ahead past a row group (counted in readahead_pages).
    assert_eq!(counter(&s, "parquet_gets"), 2, "{s:?}");
    let not_ahead = counter(&s, "store_get_requests") - counter(&s, "readahead_pages");
    assert!(not_ahead <= 4, "{s:?}");
    assert_eq!(counter(&s, "parquet_unread_bytes"), 0, "{s:?}");
    assert!(read(&r, 0, file.len()) == file, "the whole file differs");
    drop(r);

    // The same reads with Parquet-aware reads off: a GET per page as the reader asks.
    let off = tempfile::tempdir().unwrap();
    let ns_off = namespace(&server, off.path(), &[("shoal.parquet.enabled", "false")]);
    let r = ns_off.open("/s3/t/part-1.parquet", None).unwrap();
    assert!(read_like_parquet_mr(&r, &layout, 64 << 10, &file));
    let s_off = r.stats();
    assert_eq!(counter(&s_off, "parquet_gets"), 0);
    assert!(
        counter(&s_off, "store_get_requests") >= 25,
        "page by page: {s_off:?}"
    );

    // A small coalesce.max cuts a row group into several GETs, sent together.
    let small = tempfile::tempdir().unwrap();
    let ns_small = namespace(
        &server,
        small.path(),
        &[("shoal.parquet.coalesce.max", "256k")],
    );
    let r = ns_small.open("/s3/t/part-1.parquet", None).unwrap();
    assert!(read_like_parquet_mr(&r, &layout, 1 << 20, &file));
    let gets = counter(&r.stats(), "parquet_gets");
    assert!((8..=20).contains(&gets), "{:?}", r.stats());
}

#[test]
fn a_reader_of_some_columns_learns_them_and_counts_what_it_did_not_read() {
    let server = S3Server::start();
    let file = parquet_file(4, 3, 8, 30_000, 2);
    let layout = layout_of(&file);
    put(&server, "p.parquet", &file);
    let cache = tempfile::tempdir().unwrap();
    let ns = namespace(&server, cache.path(), &[]);
    let r = ns.open("/s3/p.parquet", None).unwrap();
    let len = r.len();
    let tail = read(&r, len - 8, 8);
    let meta_len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as u64;
    read(&r, len - 8 - meta_len, meta_len as usize);
    // Columns 1 and 3 only, as a projection would.
    for rg in 0..3 {
        for c in [1, 3] {
            let chunk = layout.chunks(rg)[c].clone();
            let got = read(&r, chunk.start, (chunk.end - chunk.start) as usize);
            assert!(got[..] == file[chunk.start as usize..chunk.end as usize]);
        }
    }
    drop_and_check(r, &layout);

    fn drop_and_check(r: FileReader, layout: &Layout) {
        let s = r.stats();
        drop(r);
        // The first row group fetched columns 1 to 3; column 2 was never read. The next two
        // fetched columns 1 and 3 only.
        let c2 = layout.chunks(0)[2].end - layout.chunks(0)[2].start;
        assert_eq!(counter(&s, "parquet_gets"), 1 + 2 * 2, "{s:?}");
        assert_eq!(counter(&s, "parquet_unread_bytes"), c2, "{s:?}");
    }
}

#[test]
fn files_that_are_not_parquet_are_read_as_any_file() {
    let server = S3Server::start();
    let good = parquet_file(3, 1, 6, 30_000, 3);
    let len = good.len();
    let meta_len = u32::from_le_bytes(good[len - 8..len - 4].try_into().unwrap()) as usize;

    // Other bytes under a .parquet name, ending in PAR1 or not.
    let other = noise(300_000, 4);
    let mut fake = noise(300_000, 5);
    fake.extend_from_slice(&1000u32.to_le_bytes());
    fake.extend_from_slice(b"PAR1");
    // A footer length that points before the file's start.
    let mut long = noise(1000, 6);
    long.extend_from_slice(&u32::MAX.to_le_bytes());
    long.extend_from_slice(b"PAR1");
    // A truncated file (its tail is gone) and a truncated footer (its first half is gone; the
    // length and magic still claim all of it).
    let truncated = good[..len / 2].to_vec();
    let mut cut_footer = good[..len - 8 - meta_len].to_vec();
    cut_footer.extend_from_slice(&good[len - 8 - meta_len / 2..]);
    // A corrupt footer: its Thrift bytes overwritten.
    let mut corrupt = good.clone();
    corrupt[len - 8 - meta_len..len - 8].copy_from_slice(&noise(meta_len, 7));
    // A footer that parses but puts its chunks past the file's data (the data is gone).
    let mut outside = b"PAR1".to_vec();
    outside.extend_from_slice(&good[len - 8 - meta_len..]);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("other.parquet", other),
        ("fake.parquet", fake),
        ("long.parquet", long),
        ("truncated.parquet", truncated),
        ("cut-footer.parquet", cut_footer),
        ("corrupt.parquet", corrupt),
        ("outside.parquet", outside),
    ];
    let cache = tempfile::tempdir().unwrap();
    let ns = namespace(&server, cache.path(), &[]);
    for (name, data) in &cases {
        put(&server, name, data);
        let r = ns.open(&format!("/s3/{name}"), None).unwrap();
        let n = data.len() as u64;
        // The tail first, as a Parquet reader would, then everything in uneven pieces.
        let tail = n.saturating_sub(8);
        assert!(
            read(&r, tail, (n - tail) as usize)[..] == data[tail as usize..],
            "{name}"
        );
        let mut pos = 0u64;
        for step in [7000u64, 70_000, 3, 150_000].iter().cycle() {
            if pos >= n {
                break;
            }
            let k = (*step).min(n - pos) as usize;
            assert!(
                read(&r, pos, k)[..] == data[pos as usize..pos as usize + k],
                "{name}"
            );
            pos += k as u64;
        }
        let s = r.stats();
        assert_eq!(counter(&s, "parquet_footers"), 0, "{name}: {s:?}");
        assert_eq!(counter(&s, "parquet_gets"), 0, "{name}: {s:?}");
    }
}

#[test]
fn footers_are_kept_per_version_and_load_footer_warms_them() {
    let server = S3Server::start();
    let a = parquet_file(2, 2, 6, 20_000, 8);
    let b = parquet_file(3, 1, 5, 25_000, 9);
    put(&server, "v.parquet", &a);
    let cache = tempfile::tempdir().unwrap();
    let ns = namespace(&server, cache.path(), &[("shoal.metadata.ttl", "0")]);
    let footers = || counter(&ns.stats(), "parquet_footers");

    // load_footer: the footer's pages and layout, nothing else.
    let fetched = ns.load_footer("/s3/v.parquet", None).unwrap();
    assert!(fetched > 0 && fetched <= 2 * 65_536, "{fetched}");
    assert_eq!(footers(), 1);
    assert!(ns.cached_bytes("/s3/v.parquet", None).unwrap() <= 2 * 65_536);
    // A reader finds the footer cached: no GET for it, no new parse, and the layout plans
    // its first row group at its first read.
    let r = ns.open("/s3/v.parquet", None).unwrap();
    let len = r.len();
    let meta_len = u32::from_le_bytes(read(&r, len - 8, 8)[..4].try_into().unwrap()) as u64;
    read(&r, len - 8 - meta_len, meta_len as usize);
    assert_eq!(counter(&r.stats(), "store_get_requests"), 0);
    let la = layout_of(&a);
    let first = la.chunks(0)[0].clone();
    let got = read(&r, first.start, (first.end - first.start) as usize);
    assert!(got[..] == a[first.start as usize..first.end as usize]);
    assert_eq!(counter(&r.stats(), "parquet_gets"), 1, "{:?}", r.stats());
    assert!(read_like_parquet_mr(&r, &la, 100_000, &a));
    assert_eq!(footers(), 1);
    drop(r);
    // Loading it again fetches nothing.
    assert_eq!(ns.load_footer("/s3/v.parquet", None).unwrap(), 0);
    // A stream opened from a listing (no ETag yet: bound at its first read), as Spark opens a
    // split after the footer was read by another stream, plans at its very first read.
    ns.free("/s3/v.parquet", None).unwrap();
    let listed = ns
        .list("/s3")
        .unwrap()
        .into_iter()
        .find(|f| f.path.ends_with("v.parquet"));
    let r = ns.open("/s3/v.parquet", listed).unwrap();
    let first = la.chunks(1)[0].clone();
    let got = read(&r, first.start, 100);
    assert!(got[..] == a[first.start as usize..first.start as usize + 100]);
    assert_eq!(counter(&r.stats(), "parquet_gets"), 1, "{:?}", r.stats());
    drop(r);

    // Replaced: a new version (s3s-fs gives length + mtime in whole seconds), parsed anew.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put(&server, "v.parquet", &b);
    let r = ns.open("/s3/v.parquet", None).unwrap();
    assert!(read_like_parquet_mr(&r, &layout_of(&b), 100_000, &b));
    assert_eq!(footers(), 2);
    assert_eq!(counter(&r.stats(), "parquet_gets"), 1);

    // Not Parquet: load_footer costs its last page and parses nothing.
    put(&server, "x.bin", &noise(200_000, 10));
    let fetched = ns.load_footer("/s3/x.bin", None).unwrap();
    assert!(fetched <= 65_536, "{fetched}");
    assert_eq!(footers(), 2);
}

#[test]
fn layout_parsing_never_panics_on_garbage() {
    let good = parquet_file(2, 1, 3, 1000, 11);
    let len = good.len();
    let meta_len = u32::from_le_bytes(good[len - 8..len - 4].try_into().unwrap()) as usize;
    let meta = &good[len - 8 - meta_len..len - 8];
    for seed in 0..300u64 {
        let mut m = meta.to_vec();
        let noise = noise(16, seed + 100);
        let at = (seed as usize * 7) % m.len();
        for (i, b) in noise.iter().enumerate() {
            if at + i < m.len() {
                m[at + i] ^= b;
            }
        }
        let _ = Layout::parse(&m, (len - 8 - meta_len) as u64);
        let _ = Layout::parse(&m[..(seed as usize) % m.len()], u64::MAX);
    }
}
