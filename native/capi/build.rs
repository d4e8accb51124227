//! Generates the C header from src/lib.rs and checks it against include/shoal.h, the copy
//! users and the Python package read. A stale header fails the build; with
//! SHOAL_WRITE_HEADER=1 the build writes the new one instead.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let checked_in = dir.join("include/shoal.h");
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/shoal.h");
    println!("cargo:rerun-if-env-changed=SHOAL_WRITE_HEADER");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen cannot generate shoal.h: {e}"))
        .write(&mut generated);
    let current = std::fs::read(&checked_in).unwrap_or_default();
    if current == generated {
        return;
    }
    if std::env::var_os("SHOAL_WRITE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&checked_in, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", checked_in.display()));
        return;
    }
    panic!(
        "{} is stale: it differs from what cbindgen generates from src/lib.rs. \
         Regenerate it with `SHOAL_WRITE_HEADER=1 cargo build -p shoal-capi` and commit it.",
        checked_in.display()
    );
}
