//! The layering `docs/ARCHITECTURE.md` draws, checked against the source: every `crate::` and
//! `super::` path in `src/` (test modules left out) is an edge from the module that names it to
//! the module it names. The modules form no cycle, each layer imports only the layers the
//! document allows it, and the document lists every source file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as a path relative to the crate root (`src/engine/mod.rs`).
fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> =
            std::fs::read_dir(dir).expect("read src").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src_dir(), &mut files);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    files.into_iter().map(|f| f.strip_prefix(root).expect("under the crate").to_owned()).collect()
}

/// The module a library file defines (`src/engine/pages.rs` -> `engine::pages`); `None` for the
/// programs in `src/bin/`.
fn module_of(file: &Path) -> Option<Module> {
    let rel = file.strip_prefix("src").ok()?;
    let mut parts: Module = rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    Some(parts)
}

/// The source without `#[cfg(test)]` modules (tests may reach anywhere) and without comments.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_test_cfg = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_test_cfg = true;
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if pending_test_cfg {
            pending_test_cfg = false;
            if trimmed.starts_with("mod ") && opens > 0 {
                skip_depth = Some(depth);
                depth += opens;
                depth = depth.saturating_sub(closes);
                continue;
            }
        }
        depth += opens;
        depth = depth.saturating_sub(closes);
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The paths named after each `crate::` or `super::` in `code`, resolved against `me`; a group
/// `crate::{a, b::c}` names each of its members.
fn named_paths(code: &str, me: &Module) -> Vec<Module> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts_word = i == 0 || !ident(bytes[i - 1]);
        let kind = if starts_word && rest.starts_with("crate::") {
            Some(("crate", 7))
        } else if starts_word && rest.starts_with("super::") {
            Some(("super", 7))
        } else {
            None
        };
        let Some((kind, len)) = kind else {
            i += 1;
            continue;
        };
        // `super` in `a/b.rs` and in `a/b/mod.rs` (both module a::b) is `a`.
        let mut base: Module =
            if kind == "crate" { Vec::new() } else { me[..me.len().saturating_sub(1)].to_vec() };
        i += len;
        loop {
            let seg: String = bytes[i..].iter().take_while(|c| ident(**c)).collect();
            if seg == "super" {
                base.pop();
                i += seg.len() + 2;
                continue;
            }
            break;
        }
        if bytes.get(i) == Some(&'{') {
            let end = bytes[i..].iter().position(|c| *c == '}').map_or(bytes.len(), |p| i + p);
            let group: String = bytes[i + 1..end].iter().collect();
            for member in group.split(',') {
                let member = member.trim();
                if member.is_empty() || member == "self" {
                    continue;
                }
                let mut path = base.clone();
                path.extend(
                    member.split("::").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty() && s != "self"),
                );
                out.push(path);
            }
            i = end;
            continue;
        }
        let mut path = base;
        loop {
            let seg: String = bytes[i..].iter().take_while(|c| ident(**c)).collect();
            if seg.is_empty() {
                break;
            }
            i += seg.len();
            path.push(seg);
            if bytes.get(i) == Some(&':')
                && bytes.get(i + 1) == Some(&':')
                && bytes.get(i + 2).is_some_and(|c| ident(*c))
            {
                i += 2;
            } else {
                break;
            }
        }
        out.push(path);
    }
    out
}

/// Module -> the modules it imports (at file granularity).
fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let files = source_files();
    let modules: BTreeSet<Module> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let Some(me) = module_of(file) else { continue };
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).expect("read");
        let mut deps = BTreeSet::new();
        for path in named_paths(&code_of(&text), &me) {
            // The longest prefix of the path that is a module (file) of the crate.
            let target = (1..=path.len()).rev().map(|k| path[..k].to_vec()).find(|p| modules.contains(p));
            let target = target.unwrap_or_default();
            // A module naming its own descendant or ancestor is containment, not an import.
            if target.starts_with(&me) || me.starts_with(&target) {
                continue;
            }
            deps.insert(target);
        }
        graph.insert(me, deps);
    }
    graph
}

fn name(m: &Module) -> String {
    if m.is_empty() { "crate".to_owned() } else { m.join("::") }
}

#[test]
fn modules_import_one_another_without_cycles() {
    let graph = import_graph();
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        colour: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
        cycles: &mut Vec<String>,
    ) {
        colour.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next).copied().unwrap_or(0) {
                0 => visit(next, graph, colour, stack, cycles),
                1 => {
                    let from = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut names: Vec<String> = stack[from..].iter().map(name).collect();
                    names.push(name(next));
                    cycles.push(names.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(node.clone(), 2);
    }
    let mut colour = BTreeMap::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        if !colour.contains_key(node) {
            visit(node, &graph, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// What each layer may import, by the top-level module (see ARCHITECTURE.md, "API boundaries").
/// The crate root (`crate::KVStore` and the other re-exports) is the public face anyone may use.
#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let allowed: &[(&str, &[&str])] = &[
        ("error", &[]),
        ("layout", &["error", "layout"]),
        ("io", &["io"]),
        ("wal", &["error", "io", "layout", "wal"]),
        ("engine", &["engine", "error", "io", "layout"]),
        ("inspect", &["inspect", "engine", "error", "io", "layout"]),
        ("options", &["error", "io", "layout"]),
        ("batch", &[]),
        ("store", &["store", "engine", "wal", "inspect", "layout", "io", "error", "options", "batch"]),
        ("command", &["command", ""]),
        ("cli", &["cli", "command", ""]),
        ("shell", &["shell", "cli", "command", ""]),
        ("tui", &["tui", "cli", "command", ""]),
        ("server", &["server", "command", ""]),
        ("test_support", &["test_support", "io", "layout", "wal", ""]),
    ];
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        let Some(top) = module.first() else { continue };
        let Some((_, may)) = allowed.iter().find(|(m, _)| m == top) else {
            wrong.push(format!("{}: a top-level module the layering test does not know", name(module)));
            continue;
        };
        for dep in deps {
            let dep_top = dep.first().map_or("", String::as_str);
            if !may.contains(&dep_top) {
                wrong.push(format!("{} imports {}", name(module), name(dep)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports across the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_architecture_document_lists_every_source_file() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md");
    let missing: Vec<String> = source_files()
        .iter()
        .map(|f| f.strip_prefix("src").expect("under src").to_string_lossy().into_owned())
        .filter(|f| !doc.contains(&format!("`{f}`")))
        .collect();
    assert!(missing.is_empty(), "docs/ARCHITECTURE.md does not list (as `path` under src/): {missing:?}");
}
