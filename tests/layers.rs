//! The library's layers, as `shared/lib.rs` lists them, hold: a module uses
//! only modules of its own layer and the layers below it, and no modules use
//! each other round a cycle. Read from the source, so a new `use` that
//! reaches up fails here, with the line that does it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers in `shared/lib.rs`'s doc comment, lowest first: each a name
/// and its modules.
fn layers(lib: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in lib.lines() {
        let Some(rest) = line.trim_start().strip_prefix("//! - layer ") else { continue };
        let (name, mods) = rest.split_once(':').expect("a layer line is `- layer NAME: a, b, c`");
        let mods = mods.split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
        out.push((name.trim().to_string(), mods));
    }
    out
}

/// The top-level modules `shared/lib.rs` declares.
fn declared(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect()
}

/// Every source file of top-level module `m`: `shared/m.rs` and whatever is
/// under `shared/m/`.
fn files_of(shared: &Path, m: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = shared.join(format!("{m}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![shared.join(m)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules one file names through `crate::`, each with the
/// first line that does (comments aside).
fn uses(src: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `crate::Error` and the like are re-exports from the crate root.
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.entry(name).or_insert_with(|| line.trim().to_string());
            }
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_uses_a_higher_layer_or_a_cycle() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("shared");
    let lib = std::fs::read_to_string(shared.join("lib.rs")).unwrap();
    let layers = layers(&lib);
    assert!(layers.len() >= 3, "shared/lib.rs lists no layers");
    let rank: BTreeMap<&str, (usize, &str)> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (l, ms))| ms.iter().map(move |m| (m.as_str(), (i, l.as_str()))))
        .collect();
    let listed: BTreeSet<String> = rank.keys().map(|m| m.to_string()).collect();
    let declared = declared(&lib);
    assert_eq!(listed, declared, "shared/lib.rs: the layer list and the `pub mod` lines name different modules");

    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, &(layer, layer_name)) in &rank {
        for f in files_of(&shared, m) {
            let src = std::fs::read_to_string(&f).unwrap();
            for (used, line) in uses(&src) {
                if used == *m {
                    continue;
                }
                let Some(&(their, their_name)) = rank.get(used.as_str()) else {
                    wrong.push(format!(
                        "{}: uses crate::{used}, which shared/lib.rs does not list: {line}",
                        f.display()
                    ));
                    continue;
                };
                if their > layer {
                    wrong.push(format!(
                        "{}: {m} (layer {layer_name}) uses {used} (layer {their_name}, higher): {line}",
                        f.strip_prefix(&shared).unwrap().display()
                    ));
                }
                graph.entry(m.to_string()).or_default().insert(used);
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("the library's modules use each other round a cycle: {}", cycle.join(" -> "));
    }
}

/// A cycle in the module graph, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_sees_an_upward_use_and_a_cycle() {
    // The reader itself: a `crate::` path in code counts, one in a comment
    // does not, and a cycle of two is found.
    let u = uses("use crate::launch::start;\n// crate::remote is named here only\nlet x = crate::tmux::Tmux::new();");
    assert_eq!(u.keys().cloned().collect::<Vec<_>>(), ["launch", "tmux"]);
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
    let lib = "//! - layer base: a, b\n//! - layer top: c\npub mod a;\npub mod b;\npub mod c;\n";
    assert_eq!(layers(lib), [("base".into(), vec!["a".into(), "b".into()]), ("top".into(), vec!["c".into()])]);
    assert_eq!(declared(lib).len(), 3);
}
