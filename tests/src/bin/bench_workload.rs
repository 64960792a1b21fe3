//! The mixed benchmark workload as a process of its own, for instruction
//! counting under callgrind (tests/bench/callgrind.sh).
//!
//! usage: vfscope-bench-workload plain|vfscope SCALE

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, scale] = args.as_slice() else {
        return Err("usage: vfscope-bench-workload plain|vfscope SCALE".into());
    };
    let dir = tempfile::tempdir()?;
    let vfs = match mode.as_str() {
        "plain" => Some("unix"),
        "vfscope" => {
            vfscope::Builder::new()
                .parent("unix")
                .dir(dir.path().join("segments"))
                .register()?;
            Some("vfscope")
        }
        other => return Err(format!("mode must be plain or vfscope, not {other:?}").into()),
    };
    let checksum = vfscope_tests::mixed_workload(dir.path(), vfs, scale.parse()?);
    println!("{mode}: checksum {checksum}");
    Ok(())
}
