//! The size grammar against the shared cases of `tests/vectors/sizes.txt`, which the JVM side's
//! `io.shoal.conf.TestSizes` reads too: both sides take the same sizes to the same bytes.

use shoal_core::config::parse_size;

/// Undoes the escapes of the vector file (`\s \t \n \r \f \0 \\ \u{HEX}`).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                assert_eq!(chars.next(), Some('{'), "bad escape in {text:?}");
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("bad escape \\{other:?} in {text:?}"),
        }
    }
    out
}

#[test]
fn sizes_match_the_shared_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/sizes.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut cases = 0;
    let mut wrong = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (input, expected) = line.rsplit_once('\t').expect("input<TAB>expected");
        let input = unescape(input);
        let got = parse_size(&input);
        let ok = match expected {
            "error" => got.is_err(),
            n => got.as_ref().ok() == Some(&n.parse::<u64>().unwrap()),
        };
        if !ok {
            wrong.push(format!("{input:?}: expected {expected}, got {got:?}"));
        }
        cases += 1;
    }
    assert!(cases > 50, "only {cases} cases read from {path}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
