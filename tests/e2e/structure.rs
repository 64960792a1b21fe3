//! The structure drawn from the code's own imports: no module of any
//! crate depends, through others, on itself (a loop makes every module in
//! it part of every other's reading).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's modules (the first path part under `src/`) and the modules
/// each names with `crate::`, outside its tests.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for part in code.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module && name != "self" {
                    deps.insert(name);
                }
            }
            // use crate::{a, b::c}
            for group in code.split("use crate::{").skip(1) {
                for item in group.split('}').next().unwrap().split(',') {
                    let name = item.trim().split("::").next().unwrap().to_string();
                    if !name.is_empty() && name != module && name != "self" {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// Modules that reach themselves through others.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = graph[from].iter().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(graph.get(m).into_iter().flatten());
            }
        }
        seen
    };
    graph
        .keys()
        .filter(|m| reach(m).contains(*m))
        .cloned()
        .collect()
}

#[test]
fn no_crate_has_a_module_loop() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates = [
        "vfs/cli",
        "vfs/doctor",
        "vfs/model",
        "vfs/preload",
        "vfs/segment",
        "vfs/shim",
        "exporter",
        "tui",
    ];
    let mut found = Vec::new();
    for c in crates {
        let src = root.join(c).join("src");
        assert!(src.is_dir(), "{}", src.display());
        let graph = imports(&src);
        assert!(graph.len() > 3, "{c}: {graph:?}");
        for m in loops(&graph) {
            found.push(format!("{c}: {m} -> {:?}", graph[&m]));
        }
    }
    assert!(found.is_empty(), "modules in a loop:\n{}", found.join("\n"));
}

/// Every module `from` reaches through its imports, itself included.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        if seen.insert(m.clone()) {
            todo.extend(graph.get(&m).into_iter().flatten().cloned());
        }
    }
    seen
}

/// What every recorded call runs (`calls`: timing, the model's plan,
/// recording, the trace queue) imports neither the trace file's writer
/// (`trace`: a thread, files) nor model switching (`control`: parsing
/// TOML, stderr), nor the model loader: those run beside the app.
#[test]
fn the_call_path_imports_neither_the_trace_writer_nor_the_model_loader() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vfs/shim/src");
    let graph = imports(&src);
    let path = reach(&graph, "calls");
    for needed in ["calls", "latency", "trace_queue", "recorder"] {
        assert!(
            path.contains(needed),
            "{needed} not on the call path: {path:?}"
        );
    }
    for off in ["trace", "control", "start", "fork"] {
        assert!(
            graph.contains_key(off) && !path.contains(off),
            "the call path reaches {off}: {path:?}"
        );
    }
    for module in &path {
        let file = src.join(format!("{module}.rs"));
        let file = if file.is_file() {
            file
        } else {
            src.join(module).join("mod.rs")
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for loader in ["vfscope_model::load", "TraceWriter", "toml::"] {
            assert!(!code.contains(loader), "{module} uses {loader}");
        }
    }
}
