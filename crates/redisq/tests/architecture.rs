//! The module tree has no import cycles: data flows down from the public API through the
//! services to the data layer (see `docs/architecture.md`).
//!
//! Nodes are the library's file modules (`server::worker`, `core::time`, ...); an edge is any
//! `crate::…` or `super::…` path in a module's code, outside comments and test modules.
//! Names re-exported at the crate root (`crate::RedisConnOpt`) count as their defining module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/server/worker.rs` → `server::worker`; `src/server/mod.rs` → `server`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without comments and without its inline test module.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        code.push_str(line);
        code.push('\n');
    }
    match code.find("#[cfg(test)]\nmod tests {") {
        Some(i) => code[..i].to_string(),
        None => code,
    }
}

/// Every `prefix::a::b::c` path in `code` (as `a::b::c`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(i) = rest.find(&needle) {
        let before = rest[..i].chars().last();
        let after = &rest[i + needle.len()..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            out.push(after[..end].trim_end_matches(':'));
        }
        rest = &after[end..];
    }
    out
}

/// Names the crate root re-exports, with the module path they come from.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code = code_of(lib);
    for stmt in code.split(';') {
        let Some(i) = stmt.find("pub use ") else {
            continue;
        };
        let stmt = stmt[i + 8..].trim().trim_start_matches("crate::");
        match stmt.split_once("::{") {
            Some((module, names)) => {
                for name in names.trim_end_matches('}').split(',') {
                    let name = name.trim();
                    if !name.is_empty() {
                        out.insert(name.to_string(), module.to_string());
                    }
                }
            }
            None => {
                if let Some((module, name)) = stmt.rsplit_once("::") {
                    out.insert(name.to_string(), module.to_string());
                }
            }
        }
    }
    out
}

fn resolve(
    path: &str,
    modules: &BTreeSet<String>,
    exports: &BTreeMap<String, String>,
) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    for n in (1..=parts.len()).rev() {
        let candidate = parts[..n].join("::");
        if modules.contains(&candidate) {
            return Some(candidate);
        }
    }
    let first = parts.first()?;
    let module = exports.get(*first)?;
    resolve(module, modules, exports)
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let files: BTreeMap<String, PathBuf> = files
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            !(name.ends_with("tests.rs") || name == "bench_support.rs")
        })
        .map(|f| (module_of(&src, &f), f))
        .collect();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let exports = root_exports(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &files {
        let code = code_of(&std::fs::read_to_string(file).expect("read source"));
        let parent: Vec<&str> = module.split("::").collect();
        let parent = parent[..parent.len().saturating_sub(1)].join("::");
        let mut targets: Vec<Option<String>> = paths_after(&code, "crate")
            .into_iter()
            .map(|p| resolve(p, &modules, &exports))
            .collect();
        targets.extend(paths_after(&code, "super").into_iter().map(|p| {
            let full = if parent.is_empty() {
                p.to_string()
            } else {
                format!("{parent}::{p}")
            };
            resolve(&full, &modules, &exports)
        }));
        let deps = graph.entry(module.clone()).or_default();
        for t in targets.into_iter().flatten() {
            // A module may use its own parent's items and the crate root's re-exports.
            if !t.is_empty() && t != *module && !module.starts_with(&format!("{t}::")) {
                deps.insert(t);
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let lw = s.low[w.as_str()];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.stack.contains(&w.as_str()) {
                let iw = s.index[w.as_str()];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_module_graph_has_no_cycles() {
    let graph = graph();
    assert!(graph.len() > 40, "too few modules found: {graph:?}");
    let found = cycles(&graph);
    assert!(found.is_empty(), "import cycles between modules: {found:?}");
}

#[test]
fn the_data_layer_does_not_use_the_services_or_the_public_api_types() {
    let graph = graph();
    let above = [
        "client",
        "server",
        "scheduler",
        "inspector",
        "handler",
        "mux",
    ];
    for (module, deps) in &graph {
        if !(module.starts_with("rdb")
            || module.starts_with("core")
            || module.starts_with("runtime"))
        {
            continue;
        }
        for dep in deps {
            assert!(
                !above
                    .iter()
                    .any(|a| dep == a || dep.starts_with(&format!("{a}::"))),
                "{module} uses {dep}: the data layer, core and runtime sit below the services"
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
}
