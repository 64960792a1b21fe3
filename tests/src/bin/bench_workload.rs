//! The mixed benchmark workload as a process of its own, for instruction
//! counting under callgrind (tests/bench/callgrind.sh).
//!
//! usage: vfscope-bench-workload plain|vfscope SCALE [--count]
//! With `--count` it also reads its segment back and prints how many VFS
//! calls it traced (outside the measured run: reading costs instructions).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, scale, count) = match args.as_slice() {
        [_, mode, scale] => (mode, scale, false),
        [_, mode, scale, flag] if flag == "--count" => (mode, scale, true),
        _ => return Err("usage: vfscope-bench-workload plain|vfscope SCALE [--count]".into()),
    };
    let dir = tempfile::tempdir()?;
    let (vfs, registration) = match mode.as_str() {
        "plain" => ("unix", None),
        "vfscope" => {
            let registration = vfscope::Builder::new()
                .parent("unix")
                .dir(dir.path().join("segments"))
                .register()?;
            ("vfscope", Some(registration))
        }
        other => return Err(format!("mode must be plain or vfscope, not {other:?}").into()),
    };
    let checksum = vfscope_tests::mixed_workload(dir.path(), Some(vfs), scale.parse()?);
    println!("{mode}: checksum {checksum}");
    if let Some(snapshot) = registration.filter(|_| count).and_then(|r| r.snapshot()) {
        let calls: u64 = snapshot?.cells.iter().map(|c| c.calls()).sum();
        println!("traced VFS calls: {calls}");
    }
    Ok(())
}
