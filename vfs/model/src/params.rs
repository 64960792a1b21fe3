//! Scenario parameters: a model declares `[[param]]`s (name, default,
//! meaning) and uses them as `${name}` inside its string values; a user
//! sets them after the model's name: `s3vfs:rtt=10ms,get=5ms`.
//!
//! Substitution is textual and line-preserving, so every later error still
//! names the model's own line. A value must parse the way its default does
//! (a duration, a size or a number), so it can never break the TOML.

use crate::error::ModelError;
use crate::units::{parse_bytes, parse_duration, parse_rate};

/// A declared parameter and the value in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub default: String,
    /// What it means, for `vfscope presets NAME`.
    pub about: String,
    /// The value used: the default unless the user set it.
    pub value: String,
}

/// What kind of value a parameter takes: the kind its default has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Duration,
    Size,
    Rate,
    Number,
    /// What an uploaded page takes: a size, or `lz4 + SIZE` (`[replicate]`).
    PageBytes,
}

impl Kind {
    fn of(value: &str) -> Option<Kind> {
        if parse_duration(value).is_ok() {
            Some(Kind::Duration)
        } else if value.parse::<f64>().is_ok_and(f64::is_finite) {
            Some(Kind::Number)
        } else if parse_bytes(value).is_ok() {
            Some(Kind::Size)
        } else if parse_rate(value).is_ok() {
            Some(Kind::Rate)
        } else if crate::replicate::PageBytes::parse(value).is_ok() {
            Some(Kind::PageBytes)
        } else {
            None
        }
    }

    /// Whether `value` is one of these (a size may be a plain byte count).
    fn accepts(self, value: &str) -> bool {
        match self {
            Kind::Size => parse_bytes(value).is_ok(),
            Kind::PageBytes => crate::replicate::PageBytes::parse(value).is_ok(),
            kind => Kind::of(value) == Some(kind),
        }
    }

    fn example(self) -> &'static str {
        match self {
            Kind::Duration => "a duration such as 10ms or 250us",
            Kind::Size => "a size such as 4096 or 4KiB",
            Kind::Rate => "a rate such as 100MB/s",
            Kind::Number => "a number",
            Kind::PageBytes => "lz4, lz4 + a size such as 31B, or a size such as 4KiB",
        }
    }
}

/// `key=value` settings of a model's parameters.
pub type Settings<'a> = Vec<(&'a str, &'a str)>;

/// Splits `NAME:key=value,key=value` into the model's name and its
/// settings. A name with no `:` (or an existing file whose name has one)
/// has no settings.
pub fn split_spec(spec: &str) -> Result<(&str, Settings<'_>), ModelError> {
    let Some((name, args)) = spec.split_once(':') else {
        return Ok((spec, Vec::new()));
    };
    if std::path::Path::new(spec).is_file() {
        return Ok((spec, Vec::new()));
    }
    let mut settings = Vec::new();
    for pair in args.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(ModelError {
                file: name.to_string(),
                line: 0,
                field: "(parameters)".into(),
                message: format!(
                    "{pair:?} is not key=value (the form is NAME:key=value,key=value)"
                ),
            });
        };
        settings.push((key.trim(), value.trim()));
    }
    Ok((name, settings))
}

/// Checks `settings` against the declared `params` and returns them with
/// their values; errors name the model and the parameter.
pub fn resolve(
    file: &str,
    mut params: Vec<Param>,
    settings: &[(&str, &str)],
) -> Result<Vec<Param>, ModelError> {
    let declared = params.clone();
    let error = |field: &str, message: String| ModelError {
        file: file.to_string(),
        line: 0,
        field: field.to_string(),
        message,
    };
    for (i, (key, value)) in settings.iter().enumerate() {
        if settings[..i].iter().any(|(k, _)| k == key) {
            return Err(error(key, "set twice".into()));
        }
        let Some(param) = params.iter_mut().find(|p| p.name == *key) else {
            let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            return Err(error(
                key,
                if names.is_empty() {
                    "this model takes no parameters".into()
                } else {
                    format!(
                        "no such parameter; {file} takes {} (`vfscope presets {file}` explains them)",
                        names.join(", ")
                    )
                },
            ));
        };
        let kind = kind_of(&param.default, &declared).expect("checked when declared");
        if !kind.accepts(value) {
            return Err(error(
                key,
                format!("{value:?}: expected {}", kind.example()),
            ));
        }
        param.value = value.to_string();
    }
    // A default that names another parameter takes that one's value.
    for i in 0..params.len() {
        if let Some(other) = reference(&params[i].value) {
            let value = params[..i]
                .iter()
                .find(|p| p.name == other)
                .map(|p| p.value.clone())
                .expect("checked when declared");
            params[i].value = value;
        }
    }
    Ok(params)
}

/// The parameter a default of the form `${name}` names.
fn reference(default: &str) -> Option<&str> {
    default.strip_prefix("${")?.strip_suffix('}')
}

/// The kind of a declared default, following a `${name}` default to the
/// parameter it names.
fn kind_of(default: &str, declared: &[Param]) -> Option<Kind> {
    match reference(default) {
        Some(name) => {
            let named = declared.iter().find(|p| p.name == name)?;
            kind_of(&named.default, declared)
        }
        None => Kind::of(default),
    }
}

/// The kind check of a declared default (`earlier`: the parameters
/// declared before it): the error message, if any.
pub fn check_default(default: &str, earlier: &[Param]) -> Option<&'static str> {
    kind_of(default, earlier).is_none().then_some(
        "a default must be a duration (10ms), a size (4KiB), a rate (100MB/s), a number, a page size (lz4 + 31B), or ${name} of a parameter declared before it (its value)",
    )
}

/// Replaces each `${name}` in `text` by its value. An unknown name is an
/// error at its line.
pub fn substitute(file: &str, text: &str, params: &[Param]) -> Result<String, ModelError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        let Some(param) = params.iter().find(|p| p.name == name) else {
            let consumed = text.len() - rest.len() + at;
            return Err(ModelError {
                file: file.to_string(),
                line: text[..consumed].matches('\n').count() + 1,
                field: format!("${{{name}}}"),
                message: "not a declared parameter (declare it with [[param]] name = ...)".into(),
            });
        };
        out.push_str(&param.value);
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, default: &str) -> Param {
        Param {
            name: name.into(),
            default: default.into(),
            about: String::new(),
            value: default.into(),
        }
    }

    #[test]
    fn specs_split_into_a_name_and_settings() {
        assert_eq!(split_spec("s3vfs").unwrap(), ("s3vfs", vec![]));
        assert_eq!(
            split_spec("s3vfs:rtt=10ms, get=5ms").unwrap(),
            ("s3vfs", vec![("rtt", "10ms"), ("get", "5ms")])
        );
        let e = split_spec("s3vfs:rtt").unwrap_err();
        assert!(e.to_string().contains("\"rtt\" is not key=value"), "{e}");
    }

    #[test]
    fn settings_are_checked_by_the_kind_of_their_default() {
        let declared = vec![param("rtt", "1ms"), param("block", "4KiB")];
        let got = resolve("s3vfs", declared.clone(), &[("rtt", "10ms")]).unwrap();
        assert_eq!(got[0].value, "10ms");
        let e = resolve("s3vfs", declared.clone(), &[("rt", "10ms")]).unwrap_err();
        assert_eq!(e.field, "rt");
        assert!(e.message.contains("takes rtt, block"), "{e}");
        let e = resolve("s3vfs", declared.clone(), &[("rtt", "10")]).unwrap_err();
        assert!(e.message.contains("expected a duration"), "{e}");
        let e = resolve("s3vfs", declared, &[("rtt", "1ms"), ("rtt", "2ms")]).unwrap_err();
        assert!(e.message.contains("set twice"), "{e}");
    }

    #[test]
    fn a_default_may_name_an_earlier_parameter() {
        let declared = vec![param("get", "30ms"), param("get_p99", "${get}")];
        assert_eq!(check_default("${get}", &declared[..1]), None);
        assert!(check_default("${get}", &[]).is_some());
        let value = |settings: &[(&str, &str)]| {
            let got = resolve("s3vfs", declared.clone(), settings).unwrap();
            (got[0].value.clone(), got[1].value.clone())
        };
        assert_eq!(value(&[]), ("30ms".into(), "30ms".into()));
        assert_eq!(value(&[("get", "5ms")]), ("5ms".into(), "5ms".into()));
        assert_eq!(
            value(&[("get", "5ms"), ("get_p99", "9ms")]),
            ("5ms".into(), "9ms".into())
        );
        let e = resolve("s3vfs", declared.clone(), &[("get_p99", "fast")]).unwrap_err();
        assert!(e.message.contains("a duration"), "{e}");
    }

    #[test]
    fn substitution_keeps_lines_and_names_unknown_parameters() {
        let params = vec![param("rtt", "3ms")];
        assert_eq!(
            substitute("m", "a = \"${rtt}\"\nb = 1\n", &params).unwrap(),
            "a = \"3ms\"\nb = 1\n"
        );
        let e = substitute("m", "a = 1\nb = \"${rt}\"\n", &params).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "${rt}"));
    }
}

/// A model file's text with the defaults of some of its parameters
/// replaced (`vfscope calibrate -o` writes a preset with the measured
/// values as its defaults). Line-preserving: in each `[[param]]` table,
/// the `default = ...` line of a parameter named in `values` becomes
/// `default = "VALUE"`. Every name must be declared, every value must be
/// of its default's kind.
pub fn with_param_defaults(text: &str, values: &[(&str, &str)]) -> Result<String, ModelError> {
    let error = |field: &str, message: String| ModelError {
        file: "(model text)".to_string(),
        line: 0,
        field: field.to_string(),
        message,
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut done = vec![false; values.len()];
    // The parameters seen so far (a `${name}` default has its kind).
    let mut declared: Vec<Param> = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let end = (start + 1..lines.len())
            .find(|&i| lines[i].trim_start().starts_with('['))
            .unwrap_or(lines.len());
        if lines[start].trim() == "[[param]]" {
            let field = |key: &str| {
                (start + 1..end).find(|&i| {
                    let line = lines[i].trim_start();
                    line.strip_prefix(key)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
            };
            let value_of = |i: usize| {
                let v = lines[i].split_once('=').map_or("", |(_, v)| v.trim());
                v.trim_matches('"').to_string()
            };
            if let (Some(name_at), Some(default_at)) = (field("name"), field("default")) {
                let name = value_of(name_at);
                let default = value_of(default_at);
                let kind = kind_of(&default, &declared);
                declared.push(Param {
                    name: name.clone(),
                    default: default.clone(),
                    about: String::new(),
                    value: default,
                });
                if let Some(n) = values.iter().position(|(k, _)| *k == name) {
                    let value = values[n].1;
                    if !kind.is_some_and(|k| k.accepts(value)) {
                        return Err(error(
                            &name,
                            format!("{value:?} is not of the kind of its default"),
                        ));
                    }
                    out[default_at] = format!("default = \"{value}\"");
                    done[n] = true;
                }
            }
        }
        start = end;
    }
    if let Some(n) = done.iter().position(|d| !d) {
        return Err(error(
            values[n].0,
            "no such parameter in the model".to_string(),
        ));
    }
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn defaults_are_replaced_in_place() {
        let text = "description = \"x\"\n[[param]]\nname = \"rtt\"\ndefault = \"200us\"\nabout = \"a\"\n[[param]]\nname = \"rtt_p99\"\ndefault = \"900us\"\n[commit]\nrtt = \"${rtt}\"\n";
        let out = with_param_defaults(text, &[("rtt", "312us"), ("rtt_p99", "1ms")]).unwrap();
        assert_eq!(
            out,
            "description = \"x\"\n[[param]]\nname = \"rtt\"\ndefault = \"312us\"\nabout = \"a\"\n[[param]]\nname = \"rtt_p99\"\ndefault = \"1ms\"\n[commit]\nrtt = \"${rtt}\"\n"
        );
        assert!(with_param_defaults(text, &[("nope", "1ms")]).is_err());
        assert!(with_param_defaults(text, &[("rtt", "fast")]).is_err());
    }
}
