//! The model file shown in the README parses, with the meaning it claims.

use vfscope_model::{parse, Mode, Replication, Trigger};

#[test]
fn the_readme_example_is_a_valid_model() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let model = parse("README.md", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((model.seed, model.mode), (Some(42), Mode::Sleep));
    assert_eq!(model.cache.unwrap().pages, 10_000);
    let commit = model.commit.unwrap();
    assert_eq!(
        (commit.replicas, commit.quorum, commit.replication),
        (3, 2, Replication::Sync)
    );
    assert_eq!(model.faults[0].trigger, Trigger::Nth(100));
    assert_eq!(model.partitions[0].duration_ns, Some(10_000_000_000));
}
