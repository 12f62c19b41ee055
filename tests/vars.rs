//! The `SESAME_*` variables live in one table (`sesame_login::vars`): the code names them
//! through its constants only, and docs/configuration.md lists exactly that table.

use sesame_login::vars::ALL;
use std::path::Path;

/// Source files outside the table that spell a variable's name as a literal in code (comments and
/// `#[cfg(test)]` modules aside): there must be none.
#[test]
fn no_variable_name_is_spelled_outside_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for dir in ["src", "crates/sesame-login/src", "crates/sesame-server/src"] {
        visit(&root.join(dir), &mut |path, text| {
            if path.ends_with("vars.rs") {
                return;
            }
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or_default();
                if spells_a_name(line) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        });
    }
    assert!(
        offenders.is_empty(),
        "use sesame_login::vars:\n{}",
        offenders.join("\n")
    );
}

/// Whether `line` holds a literal that is exactly a variable's name (`"SESAME_PORT"`); a
/// message that mentions one (`"SESAME_PORT={v}: …"`) is not a way to read it.
fn spells_a_name(line: &str) -> bool {
    line.match_indices("\"SESAME_").any(|(i, m)| {
        let rest = &line[i + m.len()..];
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        rest[name_len..].starts_with('"')
    })
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            f(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The table in docs/configuration.md, between its markers, is the one `vars::ALL` renders.
/// `UPDATE_DOCS=1 cargo test --test vars` rewrites it.
#[test]
fn the_docs_list_every_variable() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- vars: begin -->\n", "<!-- vars: end -->");
    let start = doc.find(begin).expect("the begin marker") + begin.len();
    let stop = doc.find(end).expect("the end marker");
    let mut table = String::from("| variable | what it sets |\n|---|---|\n");
    for v in ALL {
        table.push_str(&format!("| `{}` | {} |\n", v.name, v.meaning));
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
        return;
    }
    assert_eq!(
        doc[start..stop],
        table,
        "run UPDATE_DOCS=1 cargo test --test vars"
    );
    let mut names: Vec<_> = ALL.iter().map(|v| v.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), ALL.len(), "a variable listed twice");
}
