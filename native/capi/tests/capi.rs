//! The C API called as C calls it (raw pointers, error out-parameters, frees), over a local
//! directory mount; tests/front/test_capi.py runs a real C program against an S3 server.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use shoal::*;

struct Fs(*mut ShoalFs);

impl Drop for Fs {
    fn drop(&mut self) {
        unsafe { shoal_fs_close(self.0) }
    }
}

fn open_fs(pairs: &[(&str, String)]) -> Result<Fs, (i32, String)> {
    let keys: Vec<CString> = pairs
        .iter()
        .map(|(k, _)| CString::new(*k).unwrap())
        .collect();
    let values: Vec<CString> = pairs
        .iter()
        .map(|(_, v)| CString::new(v.as_str()).unwrap())
        .collect();
    let kp: Vec<*const c_char> = keys.iter().map(|c| c.as_ptr()).collect();
    let vp: Vec<*const c_char> = values.iter().map(|c| c.as_ptr()).collect();
    let mut err: *mut ShoalError = ptr::null_mut();
    let fs = unsafe {
        shoal_fs_open(
            kp.as_ptr(),
            vp.as_ptr(),
            kp.len(),
            SHOAL_OPEN_NO_ENV_CONF,
            &mut err,
        )
    };
    if fs.is_null() {
        Err(take(err))
    } else {
        Ok(Fs(fs))
    }
}

fn take(err: *mut ShoalError) -> (i32, String) {
    assert!(!err.is_null());
    unsafe {
        let r = (
            (*err).kind,
            CStr::from_ptr((*err).message)
                .to_string_lossy()
                .into_owned(),
        );
        shoal_error_free(err);
        r
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn setup() -> (tempfile::TempDir, Fs) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), b"hello shoal").unwrap();
    std::fs::write(data.join("sub/b.bin"), vec![7u8; 3 << 20]).unwrap();
    let fs = open_fs(&[
        ("shoal.mount.d.path", "/d".into()),
        ("shoal.mount.d.uri", format!("file://{}", data.display())),
        ("shoal.mount.d.cache", "true".into()),
        (
            "shoal.cache.dirs",
            format!("{}:64m", dir.path().join("cache").display()),
        ),
    ])
    .unwrap();
    (dir, fs)
}

#[test]
fn stat_list_read_and_free() {
    let (_dir, fs) = setup();
    unsafe {
        let mut err = ptr::null_mut();
        let info = shoal_stat(fs.0, c("/d/a.txt").as_ptr(), &mut err);
        assert!(!info.is_null());
        assert_eq!((*info).len, 11);
        assert!(!(*info).is_dir);
        assert_eq!(CStr::from_ptr((*info).path).to_str().unwrap(), "/d/a.txt");
        shoal_file_info_free(info);

        let l = shoal_list(fs.0, c("/d").as_ptr(), &mut err);
        assert!(!l.is_null());
        let names: Vec<String> = (0..(*l).count)
            .map(|i| {
                CStr::from_ptr((*(*l).entries.add(i)).path)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["/d/a.txt", "/d/sub"]);
        shoal_listing_free(l);
        let l = shoal_list_files(fs.0, c("/").as_ptr(), &mut err);
        assert_eq!((*l).count, 2);
        shoal_listing_free(l);

        let f = shoal_open(fs.0, c("/d/sub/b.bin").as_ptr(), &mut err);
        assert!(!f.is_null());
        assert_eq!(shoal_file_len(f), 3 << 20);
        let mut buf = vec![0u8; 1 << 20];
        assert_eq!(
            shoal_pread(f, (3 << 20) - 10, buf.as_mut_ptr(), buf.len(), &mut err),
            10
        );
        assert_eq!(
            shoal_pread(f, 3 << 20, buf.as_mut_ptr(), buf.len(), &mut err),
            0
        );
        assert_eq!(shoal_pread(f, 5, buf.as_mut_ptr(), 0, &mut err), 0);
        assert_eq!(shoal_pread(f, 0, ptr::null_mut(), 4, &mut err), -1);
        assert_eq!(take(err).0, SHOAL_ERR_INVALID_ARGUMENT);
        shoal_file_close(f);

        let mut summary = ShoalLoadSummary {
            files: 0,
            bytes: 0,
            fetched_bytes: 0,
            cached_bytes_before: 0,
        };
        let mut err = ptr::null_mut();
        assert_eq!(
            shoal_load(fs.0, c("/d").as_ptr(), &mut summary, &mut err),
            0
        );
        // The read of b.bin's last bytes above cached its last page already.
        assert_eq!(
            (
                summary.files,
                summary.bytes,
                summary.fetched_bytes,
                summary.cached_bytes_before
            ),
            (2, 11 + (3 << 20), 11 + (2 << 20), 1 << 20)
        );
        assert_eq!(
            shoal_load(fs.0, c("/d").as_ptr(), &mut summary, &mut err),
            0
        );
        assert_eq!(summary.fetched_bytes, 0);
        let mut freed = 0u64;
        assert_eq!(shoal_free(fs.0, c("/d").as_ptr(), &mut freed, &mut err), 0);
        assert!(freed >= 11 + (3 << 20), "{freed}");

        let n = shoal_counter_count();
        let mut values = vec![0u64; n];
        assert_eq!(shoal_fs_counters(fs.0, values.as_mut_ptr(), n), n);
        assert_eq!(shoal_fs_counters(fs.0, values.as_mut_ptr(), 2), 2);
        assert!(shoal_counter_name(n).is_null());
        assert_eq!(
            CStr::from_ptr(shoal_counter_name(0)).to_str().unwrap(),
            "cache_hits"
        );
        assert_eq!(shoal_process_counters(values.as_mut_ptr(), n), n);
        assert!(!CStr::from_ptr(shoal_version()).to_bytes().is_empty());
    }
}

#[test]
fn errors_have_kinds_and_messages() {
    let (_dir, fs) = setup();
    unsafe {
        let mut err = ptr::null_mut();
        assert!(shoal_stat(fs.0, c("/d/missing").as_ptr(), &mut err).is_null());
        let (kind, msg) = take(err);
        assert_eq!(kind, SHOAL_ERR_NOT_FOUND);
        assert!(msg.contains("/d/missing"), "{msg}");
        let mut err = ptr::null_mut();
        assert!(shoal_open(fs.0, c("/d/sub").as_ptr(), &mut err).is_null());
        assert_eq!(take(err).0, SHOAL_ERR_IS_A_DIRECTORY);
        let mut err = ptr::null_mut();
        assert!(shoal_stat(ptr::null(), c("/d").as_ptr(), &mut err).is_null());
        assert_eq!(take(err).0, SHOAL_ERR_INVALID_ARGUMENT);
        let bad = [0xffu8, 0];
        let mut err = ptr::null_mut();
        assert!(shoal_stat(fs.0, bad.as_ptr() as *const c_char, &mut err).is_null());
        assert!(take(err).1.contains("UTF-8"));
        // No out-parameter: the failure is still the return value.
        assert!(shoal_stat(fs.0, c("/d/missing").as_ptr(), ptr::null_mut()).is_null());
        // Null handles and frees are harmless.
        shoal_fs_close(ptr::null_mut());
        shoal_file_close(ptr::null_mut());
        shoal_listing_free(ptr::null_mut());
        shoal_file_info_free(ptr::null_mut());
        shoal_error_free(ptr::null_mut());
        assert_eq!(shoal_file_len(ptr::null()), 0);
    }
    let (kind, msg) = open_fs(&[("shoal.mount.x.path", "/x".into())])
        .err()
        .unwrap();
    assert_eq!(kind, SHOAL_ERR_CONFIG);
    assert!(msg.contains("shoal.mount.x"), "{msg}");
}

#[test]
fn files_outlive_their_filesystem_and_serve_threads() {
    let (_dir, fs) = setup();
    let f = unsafe { shoal_open(fs.0, c("/d/sub/b.bin").as_ptr(), ptr::null_mut()) };
    assert!(!f.is_null());
    drop(fs);
    struct Shared(*mut ShoalFile);
    unsafe impl Sync for Shared {}
    let shared = Shared(f);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let shared = &shared;
            s.spawn(move || {
                let mut buf = vec![0u8; 100_000];
                for i in 0..20u64 {
                    let pos = (t * 20 + i) * 30_000;
                    let n = unsafe {
                        shoal_pread(shared.0, pos, buf.as_mut_ptr(), buf.len(), ptr::null_mut())
                    };
                    assert_eq!(n, 100_000);
                    assert!(buf.iter().all(|b| *b == 7));
                }
            });
        }
    });
    unsafe { shoal_file_close(f) };
}
