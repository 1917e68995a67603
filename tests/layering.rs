//! Keeps the protocol core pure: nothing under `src/proto/` (or the
//! std-only `types`, `error`, `limits`, `uri` modules) may name a socket,
//! a thread or a clock. That is what lets the core be unit tested byte by
//! byte and fuzzed; I/O, threads and timers belong to `src/server/`.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::net",
    "TcpStream",
    "TcpListener",
    "std::thread",
    "thread::",
    "Instant::now",
    "SystemTime::now",
    "crate::server",
    "crate::router",
    "crate::request",
    "crate::response",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn protocol_core_performs_no_io_and_reads_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root.join("proto"), &mut files);
    rust_files(&root.join("types"), &mut files);
    for f in ["error.rs", "limits.rs", "uri.rs"] {
        files.push(root.join(f));
    }
    assert!(
        files.len() >= 10,
        "expected the core's files, found {files:?}"
    );
    let mut violations = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    violations.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the core must stay pure:\n{}",
        violations.join("\n")
    );
}
