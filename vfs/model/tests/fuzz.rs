//! The model parser on random input: always a result or an error naming a
//! place, never a panic.

use vfscope_model::parse;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

const PIECES: &[&str] = &[
    "[[rule]]\n",
    "[cache]\n",
    "[commit]\n",
    "[lease]\n",
    "[metadata]\n",
    "[[fault]]\n",
    "[[partition]]\n",
    "ops = [\"read\"]\n",
    "ops = [\"nope\", 3]\n",
    "files = [\"wal\"]\n",
    "delay = { dist = \"fixed\", value = \"1ms\" }\n",
    "delay = { dist = \"lognormal\", p50 = \"9ms\", p99 = \"1ms\" }\n",
    "delay = { dist = \"pareto\", scale = \"0ms\", shape = -1.0 }\n",
    "rtt = { dist = \"uniform\", min = \"5ms\", max = \"1ms\" }\n",
    "pages = 0\n",
    "pages = -5\n",
    "pages = 99999999999999999999\n",
    "replicas = 3\n",
    "quorum = 9\n",
    "error = \"busy\"\n",
    "error = \"full\"\n",
    "nth = 0\n",
    "probability = 2.5\n",
    "probability = 0.5\n",
    "start = \"1e400s\"\n",
    "duration = \"-1s\"\n",
    "bandwidth = \"0MB/s\"\n",
    "bandwidth = \"1e308GB/s\"\n",
    "seed = 1\n",
    "mode = \"virtual\"\n",
    "partial_block = { block = \"3KiB\", extra = { dist = \"fixed\", value = \"1ms\" } }\n",
    "tail = { probability = 1.0, extra = { dist = \"fixed\", value = \"1000000s\" } }\n",
    "= = =\n",
    "\"unterminated\n",
    "[rule\n",
    "x = \u{0}\n",
    "🙂 = 1\n",
    "value = \"99999999999999999999999ms\"\n",
];

#[test]
fn random_models_never_panic() {
    let mut rng = Lcg(11);
    for _ in 0..5000 {
        let n = 1 + rng.next() % 12;
        let text: String = (0..n).map(|_| PIECES[rng.next() % PIECES.len()]).collect();
        if let Err(e) = parse("fuzz.toml", &text) {
            let line = e.line;
            assert!(line <= text.lines().count() + 1, "{e} for\n{text}");
            assert!(e.to_string().starts_with("fuzz.toml:"), "{e}");
        }
    }
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..rng.next() % 200).map(|_| rng.next() as u8).collect();
        let _ = parse("bytes.toml", &String::from_utf8_lossy(&bytes));
    }
}
