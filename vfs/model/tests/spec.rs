//! Model files: a full file compiles to what it says; every error names
//! the file, the line and the field.

use vfscope_model::*;
use vfscope_segment::{FileKind, Op};

fn error(text: &str) -> ModelError {
    parse("model.toml", text).unwrap_err()
}

#[test]
fn a_full_model_compiles() {
    let m = parse(
        "m.toml",
        r#"
seed = 7
mode = "virtual"
[[rule]]
ops = ["read"]
files = ["main_db"]
delay = { dist = "lognormal", p50 = "2ms", p99 = "20ms" }
tail = { probability = 0.01, extra = { dist = "fixed", value = "50ms" } }
bandwidth = "100MB/s"
[cache]
pages = 1000
[commit]
rtt = { dist = "uniform", min = "1ms", max = "2ms" }
replicas = 3
quorum = 2
replication = "async"
[lease]
rtt = { dist = "fixed", value = "1ms" }
renew_every = "1s"
[metadata]
rtt = { dist = "normal", mean = "1ms", stddev = "100us" }
lazy_load = { dist = "pareto", scale = "5ms", shape = 2.5 }
[[fault]]
ops = ["write"]
files = ["wal"]
error = "ioerr_write"
nth = 3
[[partition]]
start = "10s"
duration = "5s"
"#,
    )
    .unwrap();
    assert_eq!((m.seed, m.mode), (Some(7), Mode::Virtual));
    assert_eq!(m.rules[0].select.ops, [Op::Read]);
    assert_eq!(m.rules[0].bandwidth, Some(1e8));
    assert_eq!(m.cache.as_ref().unwrap().files, [FileKind::MainDb]);
    let c = m.commit.unwrap();
    assert_eq!(
        (c.replicas, c.quorum, c.replication),
        (3, 2, Replication::Async)
    );
    assert_eq!(m.lease.unwrap().renew_every_ns, Some(1_000_000_000));
    assert_eq!(m.metadata.unwrap().ops.len(), 5);
    assert_eq!(m.faults[0].trigger, Trigger::Nth(3));
    assert_eq!(m.faults[0].rc, 778);
    assert_eq!(m.partitions[0].duration_ns, Some(5_000_000_000));
}

#[test]
fn errors_name_the_file_line_and_field() {
    let e = error("[[rule]]\nops = [\"read\"]\ndelay = { dist = \"lognormal\", p50 = \"2ms\", p99 = \"1ms\" }\n");
    assert_eq!((e.line, e.field.as_str()), (3, "rule.delay"));
    assert!(
        e.to_string()
            .starts_with("model.toml:3: rule.delay: lognormal needs 0 < p50 <= p99"),
        "{e}"
    );

    let e = error("[[rule]]\nops = [\"read\", \"reed\"]\n");
    assert_eq!((e.line, e.field.as_str()), (2, "rule.ops"));
    assert!(e.message.contains("\"reed\""), "{e}");

    let e = error("seed = 1\n[commit]\nrtt = { dist = \"fixed\", value = \"1ms\" }\nquorum = 4\nreplicas = 3\n");
    assert_eq!((e.line, e.field.as_str()), (4, "commit.quorum"));

    let e = error("[cache]\npages = 10\ncolour = \"red\"\n");
    assert_eq!((e.line, e.field.as_str()), (3, "cache.colour"), "{e}");
    assert!(e.message.contains("unknown field"), "{e}");

    let e = error("[lease]\nrtt = { dist = \"fixed\", value = \"10\" }\n");
    assert_eq!(e.field, "lease.rtt.value");
    assert!(e.message.contains("unit"), "{e}");

    let e = error("[[fault]]\nops = [\"read\"]\nerror = \"busy\"\nprobability = 0.5\n");
    assert_eq!((e.line, e.field.as_str()), (3, "fault.error"));
    let e = error("[[fault]]\nops = [\"close\"]\nerror = \"ioerr\"\nnth = 1\n");
    assert_eq!(e.field, "fault.ops");
    let e = error("mode = \"fast\"\n");
    assert_eq!((e.line, e.field.as_str()), (1, "mode"));
    let e = error("[[rule]]\ndelay = { dist = \"fixed\", value = \"1ms\", p50 = \"2ms\" }\n");
    assert!(e.message.contains("not `p50`"), "{e}");
    let e = error("seed = \n");
    assert_eq!(e.line, 1);
}

const REMOTE: &str = "[remote]\nblock = \"4KiB\"\nrtt = \"${rtt}\"\n\
[[remote.request]]\nname = \"get\"\ntime = \"5ms\"\n\
[[remote.send]]\nops = [\"read\"]\nrequests = [\"get per block\"]\n";

#[test]
fn request_scenarios_and_parameters_compile() {
    let text =
        format!("[[param]]\nname = \"rtt\"\ndefault = \"2ms\"\nabout = \"round trip\"\n{REMOTE}");
    let m = parse("m.toml", &text).unwrap();
    let r = m.remote.unwrap();
    assert_eq!((r.block, r.rtt_ns, r.list_page), (4096, 2e6, 1000));
    assert_eq!(r.sends[0].requests, [(0, Count::Block, 1)]);
    assert_eq!(m.params[0].value, "2ms");
    let m = parse_with("m.toml", &text, &[("rtt", "7ms")]).unwrap();
    assert_eq!(m.remote.unwrap().rtt_ns, 7e6);
}

#[test]
fn request_scenario_errors_name_the_line_and_field() {
    let declare = "[[param]]\nname = \"rtt\"\ndefault = \"2ms\"\nabout = \"round trip\"\n";
    // A send that names no declared request type, or a count that does not exist.
    let text = format!("{declare}{REMOTE}").replace("get per block", "got per block");
    let e = error(&text);
    assert_eq!((e.line, e.field.as_str()), (13, "remote.send.requests"));
    assert!(
        e.message
            .contains("TYPE one of the declared requests (get)"),
        "{e}"
    );
    let e = error(&format!("{declare}{REMOTE}").replace("get per block", "get per page"));
    assert!(e.message.contains("partial block, listing page"), "{e}");
    // A parameter used but not declared.
    let e = error(REMOTE);
    assert_eq!((e.line, e.field.as_str()), (3, "${rtt}"));
    // A default that is no kind of value.
    let e = error(&format!("{declare}{REMOTE}").replace("\"2ms\"", "\"soon\""));
    assert_eq!((e.line, e.field.as_str()), (3, "param.default"));
    // Round trips out of range, a negative price.
    let bad =
        format!("{declare}{REMOTE}").replace("time = \"5ms\"", "time = \"5ms\"\nround_trips = 99");
    assert_eq!(error(&bad).field, "remote.request.round_trips");
    let bad = format!("{declare}{REMOTE}")
        .replace("time = \"5ms\"", "time = \"5ms\"\nprice_per_1000 = -1.0");
    assert_eq!(error(&bad).field, "remote.request.price_per_1000");
    // A value set on the command line is checked against its default's kind.
    let e = parse_with("m.toml", &format!("{declare}{REMOTE}"), &[("rtt", "4KiB")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "m.toml: rtt: \"4KiB\": expected a duration such as 10ms or 250us"
    );
}
