//! The rules of the tree, checked: top-level modules depend on each other one way only.
//!
//! Each module of `src/` (a file or a folder) may name others with `crate::...` or
//! `use crate::{...}`; this test reads the sources, builds the graph of those names and fails on
//! any circle (a module that imports one that imports it back, directly or through others), and
//! on the few layers a newcomer relies on: `domain` needs nothing, the store needs only the
//! domain, the shared state needs no handler. The binary (`src/bin/`) sits above everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `path` (or `path` itself).
fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("readable folder") {
        files.extend(sources(&entry.expect("entry").path()));
    }
    files
}

/// The top-level modules a source names, ignoring comments.
fn named_modules(text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(list) = rest.strip_prefix('{') {
                // `use crate::{a, b::c, d}`: the first segment of each item.
                let inner = list.split('}').next().unwrap_or("");
                inner
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or("").trim())
                    .collect()
            } else {
                vec![
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                ]
            };
            found.extend(
                names
                    .into_iter()
                    .filter(|n| known.contains(*n))
                    .map(str::to_owned),
            );
        }
    }
    found
}

/// The graph: each top-level module and the others it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "bin" || name == "lib" || name == "dependency_rules" {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            modules.insert(name, path);
        }
    }
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, path)| {
            let mut deps = BTreeSet::new();
            for file in sources(path) {
                let text = std::fs::read_to_string(&file).expect("readable source");
                deps.extend(named_modules(&text, &known));
            }
            deps.remove(name);
            (name.clone(), deps)
        })
        .collect()
}

/// A circle through `start`, if any, as the list of modules along it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut found = path.clone();
                found.push(start.to_owned());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_depend_one_way() {
    let graph = graph();
    for (module, deps) in &graph {
        println!("{module} → {deps:?}");
    }
    assert!(graph.len() > 10, "the source tree was read: {graph:?}");
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|m| circle(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(circles.is_empty(), "circles between modules: {circles:#?}");
}

#[test]
fn the_layers_a_newcomer_relies_on() {
    let graph = graph();
    let deps = |m: &str| graph.get(m).cloned().unwrap_or_default();
    assert!(
        deps("domain").is_empty(),
        "domain imports {:?}",
        deps("domain")
    );
    let store: Vec<String> = deps("store")
        .into_iter()
        .filter(|d| d != "domain")
        .collect();
    assert!(
        store.is_empty(),
        "the store imports more than the domain: {store:?}"
    );
    for handler in ["app", "voice", "messages", "jobs", "sim"] {
        assert!(
            !deps("state").contains(handler),
            "the shared state imports {handler}"
        );
    }
}

#[test]
fn names_are_read_from_paths_and_lists_but_not_comments() {
    let known: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let text = "use crate::a::X;\nuse crate::{\n    b::Y,\n    c,\n};\n// crate::d is only mentioned\nlet x = crate::d::f(); // crate::a again";
    let found = named_modules(text, &known);
    assert_eq!(found, ["a", "b", "c", "d"].map(String::from).into());
    assert!(named_modules("// crate::a", &known).is_empty());
}
