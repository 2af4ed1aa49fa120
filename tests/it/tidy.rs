//! The architecture's absences, checked so that they stay true (ARCHITECTURE.md,
//! "Invariants"): every source file opens with a `//!` paragraph; axum, hyper and tower
//! only under `src/http/`; database drivers, the object store and the blob key layout only
//! under `src/storage/`; nothing maps memory (the catalog once mapped SQLite's `-shm`
//! file and dropped SQLite's locks with it).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each `src` file, by its path relative to `src/`, with its text.
fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn the_architectures_absences_hold() {
    let files = source_files();
    assert!(files.len() > 50, "the source tree was not found");
    let mut broken = Vec::new();
    for (name, text) in &files {
        if !text.starts_with("//!") {
            broken.push(format!("{name}: does not open with a //! paragraph"));
        }
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if !name.starts_with("http/") {
            for web in ["axum::", "hyper::", "tower::", "tower_http::"] {
                if code.contains(web) {
                    broken.push(format!("{name}: uses {web} outside src/http"));
                }
            }
        }
        if !name.starts_with("storage/") {
            // The engines and the blob key layout are storage's alone: above it, nothing
            // names a driver or spells where an image's blobs live.
            for engine in ["sqlx::", "rusqlite::", "object_store::", "\"variants/"] {
                if code.contains(engine) {
                    broken.push(format!("{name}: uses {engine} outside src/storage"));
                }
            }
        }
        if code.contains("mmap(") {
            broken.push(format!("{name}: maps memory"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
