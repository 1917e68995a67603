//! Keeps the layers of the crate apart.
//!
//! - The protocol core stays pure: nothing under `src/proto/` (or the
//!   std-only `types`, `error`, `limits`, `uri` modules and the pure
//!   parsers `form` and `cookie`) may name a socket, a thread or a
//!   clock. That is what lets the core be unit tested byte by byte and
//!   fuzzed; I/O, threads and timers belong to `src/server/`.
//! - No module imports from above it: the modules of `src/` form no import
//!   cycle, and each uses only what its layer allows (the dependency rule
//!   of the style guide), the server's own files included, so that a
//!   reader follows a request down the files and never back up.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

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
    for f in ["error.rs", "limits.rs", "uri.rs", "form.rs", "cookie.rs"] {
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

/// The layers, top first: a module may use modules of its own layer or
/// below, never above. Within a layer, any order without cycles.
const LAYERS: &[&[&str]] = &[
    &["crate"],
    &["crate::server"],
    &["crate::server::listener"],
    &["crate::server::worker"],
    &["crate::server::connection"],
    &[
        "crate::server::registry",
        "crate::server::session",
        "crate::server::wire",
        "crate::server::writer",
    ],
    &["crate::server::park", "crate::server::park::epoll"],
    &[
        "crate::server::park::slots",
        "crate::server::park::wake",
        "crate::server::park::wait",
        "crate::server::link",
    ],
    &[
        "crate::server::outbound",
        "crate::server::config",
        "crate::server::streams",
        "crate::server::pool",
        "crate::server::clock",
        "crate::server::stats",
    ],
    &["crate::server::socket", "crate::server::tls"],
    &[
        "crate::static_files",
        "crate::static_files::byteranges",
        "crate::static_files::conditional",
        "crate::static_files::listing",
        "crate::static_files::path",
        "crate::static_files::range",
        "crate::static_files::mime",
        "crate::static_files::resolve",
    ],
    &["crate::testing"],
    &["crate::router", "crate::handler", "crate::ws"],
    &[
        "crate::request",
        "crate::response",
        "crate::multipart",
        "crate::upgrade",
    ],
    &["crate::forwarded", "crate::ws::session"],
    &[
        "crate::proto",
        "crate::proto::conn",
        "crate::proto::head",
        "crate::proto::body",
        "crate::proto::encode",
        "crate::proto::multipart",
        "crate::proto::ws",
        "crate::proto::ws::close",
        "crate::proto::ws::encode",
        "crate::proto::ws::frame",
        "crate::proto::ws::handshake",
        "crate::proto::ws::message",
    ],
    &[
        "crate::types",
        "crate::types::date",
        "crate::types::headers",
        "crate::types::method",
        "crate::types::status",
        "crate::types::version",
        "crate::error",
        "crate::extensions",
        "crate::limits",
        "crate::tls",
        "crate::uri",
        "crate::form",
        "crate::cookie",
        "crate::peer",
    ],
];

/// Returns what the crate root re-exports: name → the module it comes
/// from (`Server` → `crate::server`), read from `pub use` in `lib.rs`.
fn reexports(src: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    for item in text.split("pub use ").skip(1) {
        let item = item.split(';').next().unwrap_or("");
        let (module, names) = match item.split_once("::{") {
            Some((m, names)) => (m, names.trim_end_matches('}')),
            None => item.rsplit_once("::").unwrap_or(("", item)),
        };
        for name in names.split(',') {
            let name = name.split_whitespace().last().unwrap_or("");
            if !name.is_empty() {
                out.insert(name.to_owned(), format!("crate::{}", module.trim()));
            }
        }
    }
    out
}

/// Returns the module path of a source file (`src/server/link.rs` is
/// `crate::server::link`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    std::iter::once("crate".to_owned())
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

/// Returns the modules each module of `src/` names, outside its tests:
/// `crate::a::b` and `super::c` paths, resolved to the longest module
/// they start with. A module naming its own descendants is not counted.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let reexported = reexports(&src);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let text = fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let is_mod_file = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        let mut here: Vec<&str> = module.split("::").collect();
        if !is_mod_file || here.len() > 1 {
            // `super` in `a/b.rs` and in `a/b/mod.rs` is `a`.
            here.pop();
        }
        let mut deps = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            for (start, _) in line
                .match_indices("crate::")
                .chain(line.match_indices("super::"))
            {
                if start > 0 && line.as_bytes()[start - 1].is_ascii_alphanumeric() {
                    continue;
                }
                for path in paths_at(&line[start..]) {
                    let path: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                    let mut full: Vec<&str> = if path[0] == "super" {
                        here.iter()
                            .copied()
                            .chain(path[1..].iter().copied())
                            .collect()
                    } else {
                        path
                    };
                    // A name the root re-exports stands for its own module.
                    if full[0] == "crate" {
                        if let Some(from) = full.get(1).and_then(|n| reexported.get(*n)) {
                            let rest = full[2..].to_vec();
                            full = from.split("::").chain(rest).collect();
                        }
                    }
                    for n in (1..=full.len()).rev() {
                        let candidate = full[..n].join("::");
                        if modules.contains_key(&candidate) {
                            let own = candidate == *module
                                || candidate.starts_with(&format!("{module}::"));
                            if !own {
                                deps.insert(candidate);
                            }
                            break;
                        }
                    }
                }
            }
        }
        edges.insert(module.clone(), deps);
    }
    edges
}

/// Returns the paths a `crate::…` or `super::…` at the start of `text`
/// names: one, or one per name of a `{…}` group on the same line.
fn paths_at(text: &str) -> Vec<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let (path, rest) = text.split_at(end);
    let path = path.trim_end_matches(':');
    match rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((group, _)) if path.len() < end => group
            .split(',')
            .map(|name| format!("{path}::{}", name.trim()))
            .filter(|p| !p.ends_with("::"))
            .collect(),
        _ => vec![path.to_owned()],
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = imports()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let mut violations = Vec::new();
    for (module, deps) in imports() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for dep in deps {
            if layer_of(&dep).is_some_and(|l| l < own) {
                violations.push(format!("{module} uses {dep}, which is above it"));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn modules_import_one_another_without_cycles() {
    let edges = imports();
    // Depth-first search for a path back to where it started.
    fn reaches(
        edges: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in edges.get(from).into_iter().flatten() {
            if next == to {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if reaches(edges, next, to, seen, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut cycles = Vec::new();
    for module in edges.keys() {
        let mut path = vec![module.clone()];
        if reaches(&edges, module, module, &mut BTreeSet::new(), &mut path) {
            cycles.push(path.join(" -> "));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_import_check_sees_imports() {
    // A check that found nothing would pass for any tree.
    let edges = imports();
    let worker = &edges["crate::server::worker"];
    assert!(worker.contains("crate::server::connection"), "{worker:?}");
    assert!(edges["crate::server::park::slots"].contains("crate::server::park::wait"));
    assert!(edges["crate::request"].contains("crate::proto::head"));
}
