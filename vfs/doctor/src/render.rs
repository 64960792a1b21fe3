//! Findings as text (80 columns) and JSON (schema `vfscope-doctor/1`).

use crate::findings::{ms, Diagnosis, Finding};
use serde_json::{json, Value};

/// Greedy word wrap of `text` to `width`, each line after the first
/// indented by `indent`.
fn wrap(text: &str, first: &str, indent: usize, width: usize) -> String {
    let mut out = format!("{first:<indent$}");
    let mut column = out.chars().count();
    let mut line_empty = true;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if !line_empty && column + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        } else if !line_empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
        line_empty = false;
    }
    out.push('\n');
    out
}

fn gain_text(f: &Finding) -> String {
    match (&f.gain, &f.avoids) {
        (Some(g), _) => format!(
            "{} {} ({:.0}% of the {} in the VFS), ±{:.0}%: {}",
            g.bound.name(),
            ms(g.saved_ns as f64),
            100.0 * g.saved_ns as f64 / g.of_ns.max(1) as f64,
            ms(g.of_ns as f64),
            100.0 * g.uncertainty,
            g.how
        ),
        (None, Some(avoids)) => avoids.clone(),
        (None, None) => "not estimated".into(),
    }
}

/// The findings as text: rendered from their JSON, so a diagnosis and a
/// report's `findings` read back read the same.
pub fn text(d: &Diagnosis, source: &str) -> String {
    text_of_json(&json(d, source))
}

/// Text from JSON of schema `vfscope-doctor/1`.
pub fn text_of_json(v: &Value) -> String {
    let str_of = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "vfscope doctor: {} finding{} ({})\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        str_of(v, "source")
    );
    for (i, f) in findings.iter().enumerate() {
        out.push('\n');
        out.push_str(&format!(
            "{}. {} [{}] {}\n",
            i + 1,
            str_of(f, "id"),
            str_of(f, "severity"),
            str_of(f, "database")
        ));
        let pids: Vec<String> = f["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} ({})",
                    p["pid"],
                    crate::rules::short(&str_of(p, "command"))
                )
            })
            .collect();
        if !pids.is_empty() {
            out.push_str(&wrap(&pids.join(", "), "   processes:", 14, 80));
        }
        out.push_str(&wrap(&str_of(f, "evidence_text"), "   evidence:", 14, 80));
        out.push_str(&wrap(&str_of(f, "change"), "   change:", 14, 80));
        out.push_str(&wrap(&str_of(f, "gain_text"), "   gain:", 14, 80));
    }
    if findings.is_empty() {
        out.push_str("\nnothing to change that the recording shows.\n");
    }
    let notes = v["notes"].as_array().cloned().unwrap_or_default();
    if !notes.is_empty() {
        out.push_str("\nlooked at, too weak to say:\n");
        for note in &notes {
            out.push_str(&wrap(note.as_str().unwrap_or_default(), "  - ", 4, 80));
        }
    }
    out
}

pub fn json(d: &Diagnosis, source: &str) -> Value {
    json!({
        "schema": "vfscope-doctor/1",
        "source": source,
        "findings": d.findings.iter().map(|f| json!({
            "id": f.id,
            "severity": f.severity.name(),
            "database": f.database,
            "path": f.path,
            "processes": f.processes.iter().map(|p| json!({"pid": p.pid, "command": p.command})).collect::<Vec<_>>(),
            "evidence": f.evidence,
            "evidence_text": f.evidence_text,
            "change": f.change,
            "gain_text": gain_text(f),
            "gain": f.gain.as_ref().map(|g| json!({
                "saved_ns": g.saved_ns,
                "low_ns": (g.saved_ns as f64 * (1.0 - g.uncertainty)) as u64,
                "high_ns": (g.bound != crate::findings::Bound::AtLeast).then_some((g.saved_ns as f64 * (1.0 + g.uncertainty)) as u64),
                "bound": g.bound.name(),
                "of_ns": g.of_ns,
                "how": g.how,
            })),
            "avoids": f.avoids,
        })).collect::<Vec<_>>(),
        "notes": d.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_stay_in_80_columns() {
        let text = "word ".repeat(60);
        let out = wrap(&text, "   evidence:", 14, 80);
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(
            out.lines().skip(1).all(|l| l.starts_with(&" ".repeat(13))),
            "{out}"
        );
        assert_eq!(out.split_whitespace().filter(|w| *w == "word").count(), 60);
    }
}
