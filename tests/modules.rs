//! No module imports another that imports it back: in each crate, the graph of its top-level
//! modules (an edge `a → b` when code of `a`, outside comments and tests, names `crate::b`) has
//! no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level module of `file` (relative to the crate's `src/`), `None` for the crate root.
fn top_module(file: &Path) -> Option<String> {
    let first = file.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The modules named as `crate::<name>` in `code`, outside comments and `#[cfg(test)]` code.
fn dependencies(code: &str) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let mut deps = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for rest in line.split("crate::").skip(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                deps.insert(name);
            }
        }
    }
    deps
}

fn graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(module) = top_module(path.strip_prefix(src).unwrap()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).unwrap();
                let deps = graph.entry(module.clone()).or_default();
                deps.extend(dependencies(&code).into_iter().filter(|d| *d != module));
            }
        }
    }
    graph
}

/// A cycle of `graph` (its modules in order), if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in ["src", "agents/src", "envs/src"] {
        let graph = graph(&root.join(src));
        assert!(graph.len() > 5, "{src}: only {} modules found", graph.len());
        assert!(
            graph.values().any(|deps| !deps.is_empty()),
            "{src}: no imports found"
        );
        assert_eq!(cycle(&graph), None, "{src}: modules import each other");
    }
}

#[test]
fn a_cycle_is_found_and_comments_are_not_imports() {
    let deps = dependencies("use crate::a::X;\n// see crate::b\nfn f() { crate::c::g() }");
    assert_eq!(deps, BTreeSet::from(["a".to_string(), "c".to_string()]));
    let edge = |a: &str, b: &str| (a.to_string(), BTreeSet::from([b.to_string()]));
    let cyclic = Graph::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(cycle(&cyclic).map(|c| c.len()), Some(3));
    let acyclic = Graph::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(cycle(&acyclic), None);
}
