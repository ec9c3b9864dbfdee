//! The shape ARCHITECTURE.md promises, checked on the sources themselves: no module of a crate
//! depends on itself through others, the web layer reaches the log only through the authority,
//! and `ca-core` names no command-line flag, environment variable or URL path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `dir`, with its path relative to `dir`.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_owned(), text));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its tests (which the style puts last, after `#[cfg(test)]`).
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or_default()
}

/// Which top-level modules of a crate each one refers to through `crate::`.
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for (path, text) in sources(src) {
        let first = path
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        // Tests kept in their own file (`mod tests;` under `#[cfg(test)]`) are tests too.
        if module == "lib" || module == "main" || path.file_name().is_some_and(|f| f == "tests.rs")
        {
            continue;
        }
        let code = without_tests(&text);
        let deps = graph.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module && name.chars().all(|c| !c.is_uppercase()) {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle of the graph, if it has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    let cycle = find_cycle(&graph).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let acyclic: Graph = [("a", "b"), ("b", "c")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(find_cycle(&acyclic), None);
}

#[test]
fn no_crate_has_a_module_cycle() {
    for krate in ["ca-core/src", "ca-web/src", "src"] {
        let graph = module_graph(&root().join(krate));
        assert!(graph.len() >= 3, "{krate}: {graph:?}");
        assert_eq!(find_cycle(&graph), None, "{krate}: {graph:#?}");
    }
}

#[test]
fn the_web_layer_reaches_the_log_only_through_the_authority() {
    for (path, text) in sources(&root().join("ca-web/src")) {
        let code = without_tests(&text);
        for needle in [".store()", "ca_core::store::", "sqlx"] {
            assert!(!code.contains(needle), "{path:?} uses {needle}");
        }
    }
}

#[test]
fn ca_core_names_no_flag_environment_variable_or_url_path() {
    for (path, text) in sources(&root().join("ca-core/src")) {
        // Tests kept in their own file (`mod tests;` under `#[cfg(test)]`) are tests too.
        if path.file_name().is_some_and(|f| f == "tests.rs") {
            continue;
        }
        let code = without_tests(&text);
        for (number, line) in code.lines().enumerate() {
            let flag = line
                .match_indices("--")
                .any(|(at, _)| line[at + 2..].starts_with(|c: char| c.is_ascii_lowercase()));
            let found = flag
                || line.contains("$CA_")
                || line.contains("CA_PASSPHRASE")
                || line.contains("/certsrv")
                || line.contains("`ca ");
            assert!(!found, "{path:?}:{}: {line}", number + 1);
        }
    }
}
