//! The architecture's absences, checked so that they stay true (ARCHITECTURE.md,
//! "Invariants"): every source file opens with a `//!` paragraph; axum, hyper and tower
//! only under `src/http/`; database drivers, the object store and the blob key layout only
//! under `src/storage/`, and each engine driven by its own driver (rusqlite for SQLite,
//! sqlx for PostgreSQL, never sqlx's `Any`); no file over 400 lines (tests aside); nothing maps memory (the
//! catalog once mapped SQLite's `-shm` file and dropped SQLite's locks with it); no
//! dialect maps an error with a catch-all arm or by its status number (a new `Error`
//! variant must make every dialect decide); the console writes no inline script or style
//! and names no other host.

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
        // Access is decided in the service: http hands it the principal, never checks it.
        if name.starts_with("http/") && code.contains(".require(") {
            broken.push(format!("{name}: checks a principal's access itself"));
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
        // One driver per engine: SQLite is rusqlite's alone (the catalog's `sqlite/`, and
        // the two modules that read rows and bind values for both drivers), PostgreSQL is
        // sqlx's alone, and nothing reaches for sqlx's `Any` driver or its SQLite one.
        let driver_sites = |prefix: &str| {
            ["storage/catalog/columns.rs", "storage/catalog/statement.rs"].contains(&name.as_str())
                || name == "storage/catalog/engine_errors.rs"
                || name.starts_with(prefix)
        };
        if code.contains("rusqlite::") && !driver_sites("storage/catalog/sqlite/") {
            broken.push(format!(
                "{name}: drives SQLite outside storage/catalog/sqlite"
            ));
        }
        let postgres_files = ["storage/catalog/postgres.rs", "storage/catalog/locks.rs"];
        if code.contains("sqlx::")
            && !(driver_sites("-") || postgres_files.contains(&name.as_str()))
        {
            broken.push(format!("{name}: uses sqlx outside the PostgreSQL driver"));
        }
        for generic in ["sqlx::any", "AnyPool", "sqlx::sqlite", "sqlx::Sqlite"] {
            if code.contains(generic) {
                broken.push(format!(
                    "{name}: uses {generic}; each engine has its own driver"
                ));
            }
        }
        let file = name.rsplit('/').next().unwrap_or_default();
        let test_file = file.starts_with("tests") || file.ends_with("_tests.rs");
        let lines = text.lines().count();
        if !test_file && lines > 400 {
            broken.push(format!("{name}: {lines} lines, over 400"));
        }
        if code.contains("mmap(") {
            broken.push(format!("{name}: maps memory"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The body of the function whose signature starts at `at`: from the first `{` after it
/// to its matching `}`.
fn body_from(text: &str, at: usize) -> &str {
    let open = at + text[at..].find('{').expect("a function body");
    let mut depth = 0;
    for (offset, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..=open + offset];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after {}", &text[at..at + 40]);
}

/// A match arm that takes whatever is left: `_ =>`, `_ if …`, or a bare binding such as
/// `other =>` or `s if s >= 500 =>`.
fn catch_all_arm(line: &str) -> bool {
    let line = line.trim();
    let binding = line
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .map(|end| (&line[..end], line[end..].trim_start()));
    let takes_the_rest = |rest: &str| rest.starts_with("=>") || rest.starts_with("if ");
    line.contains("| _ =>")
        || binding.is_some_and(|(name, rest)| {
            !name.is_empty() && name != "let" && name != "match" && takes_the_rest(rest)
        })
}

/// The one place each dialect maps each error (ARCHITECTURE.md): every `answer` of an
/// `impl Dialect for …`, and `classify` and `public_message`, which they share. None may
/// have a catch-all arm or look at a status number: either would let a new `Error`
/// variant compile without a dialect deciding what it answers.
#[test]
fn every_dialect_maps_every_error_by_name() {
    let files = source_files();
    let mut mappings = Vec::new();
    for (name, text) in &files {
        for (at, _) in text.match_indices("impl Dialect for ") {
            let dialect = text[at..].split_whitespace().nth(3).unwrap().to_string();
            let answer = at + text[at..].find("fn answer(").expect("an answer");
            mappings.push((
                format!("{name}: {dialect}::answer"),
                body_from(text, answer),
            ));
        }
        if name == "http/error.rs" {
            for shared in ["pub fn classify(", "pub fn public_message("] {
                let at = text.find(shared).expect(shared);
                mappings.push((format!("{name}: {shared}"), body_from(text, at)));
            }
        }
    }
    let names: Vec<_> = mappings.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "Native",
        "QuestionPro",
        "SuperOffice",
        "Akana",
        "classify",
        "public_message",
    ] {
        assert!(
            names.iter().any(|name| name.contains(expected)),
            "{expected} not found among {names:?}"
        );
    }
    let mut broken = Vec::new();
    for (name, body) in &mappings {
        for line in body.lines().filter(|l| !l.trim_start().starts_with("//")) {
            if catch_all_arm(line) {
                broken.push(format!("{name}: a catch-all arm: {}", line.trim()));
            }
            if line.contains("as_u16()") {
                broken.push(format!("{name}: looks at a status number: {}", line.trim()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The console is self-contained and script-free in its markup: its templates write no
/// inline style, no script but the one `src` link of the page head, and no address of
/// another host; its script and stylesheet reach no other host and evaluate no strings.
/// (The Content-Security-Policy would refuse all of these; this keeps them from being
/// written in the first place.)
#[test]
fn the_console_is_self_contained() {
    let mut broken = Vec::new();
    for (name, text) in source_files() {
        if !name.starts_with("http/console/") {
            continue;
        }
        // Unit tests may spell other hosts: they are not pages.
        let pages = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = pages
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if code.contains(" style=") || code.contains("style {") {
            broken.push(format!("{name}: writes an inline style"));
        }
        // A maud `script` element: the word, then its attributes or its body.
        let element =
            regex_lite::Regex::new(r#"(?:^|[^A-Za-z0-9_"])script(?:\s+[a-z-]+=|\s*[{.#])"#)
                .unwrap();
        for found in element.find_iter(&code) {
            let rest = &code[found.start()..];
            let head = &rest[..rest.find('{').unwrap_or(rest.len())];
            if !head.contains("src=") {
                broken.push(format!("{name}: writes a script without src"));
            }
        }
        for other_host in ["\"http://", "\"https://", "\"//"] {
            if code.contains(other_host) {
                broken.push(format!("{name}: names another host ({other_host}…)"));
            }
        }
    }
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/console");
    for file in ["console.js", "console.css"] {
        let text = std::fs::read_to_string(assets.join(file)).unwrap();
        for forbidden in [
            "http://",
            "https://",
            "@import",
            "eval(",
            "new Function",
            "innerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            if text.contains(forbidden) {
                broken.push(format!("assets/console/{file}: contains {forbidden}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
