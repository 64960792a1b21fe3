//! One metric family being built from snapshots: the neutral model every
//! encoder reads (Prometheus's text format here, prometheus protobuf here,
//! OTLP in the `otlp` module). A family says at its declaration what it is in
//! OTLP: its OTel name and unit, or nothing (not sent).

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use std::collections::BTreeMap;
use std::fmt::Write;
use vfscope_segment::{bucket_midpoint, Buckets};

/// Upper bounds (seconds) of the exported latency buckets: microseconds to
/// seconds, about three per decade.
pub const BOUNDS: [f64; 22] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label values, in the order of a family's label names.
pub(crate) type Labels = Vec<String>;

/// What a family's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only grows (from the process's start).
    Counter,
    /// A value now.
    Gauge,
    /// Latencies in [`BOUNDS`].
    Histogram,
}

/// Label → OTel attribute key (the same label means the same thing in
/// every family). `pid` is a resource attribute, not a metric's.
pub(crate) const ATTRIBUTES: &[(&str, &str)] = &[
    ("op", "vfscope.op"),
    ("file_kind", "vfscope.file_kind"),
    ("db", "db.namespace"),
    ("result", "vfscope.result"),
    ("direction", "disk.io.direction"),
    ("from", "vfscope.lock.from"),
    ("to", "vfscope.lock.to"),
    ("level", "vfscope.lock.level"),
    ("slot", "vfscope.shm.slot"),
    ("mode", "vfscope.shm.mode"),
    ("table", "vfscope.table"),
    ("copy", "vfscope.sqlite_copy"),
];

/// One family being built: values summed per label set (two databases with
/// the same file name in one process share a series).
pub(crate) struct Family {
    /// The Prometheus name (`vfscope_..._total`).
    pub(crate) name: &'static str,
    /// One line for `# HELP`, also the OTLP description.
    pub(crate) help: &'static str,
    pub(crate) kind: Kind,
    /// Label names, in the order of every [`Labels`] of the family.
    pub(crate) labels: &'static [&'static str],
    /// Its OTel name and unit; `None`: not sent over OTLP (process-level
    /// families are resource attributes there, directory-level ones
    /// describe `vfscope serve` itself).
    pub(crate) otlp: Option<(&'static str, &'static str)>,
    /// A counter's or gauge's value per label set.
    pub(crate) values: BTreeMap<Labels, f64>,
    /// A histogram's buckets per label set.
    pub(crate) histograms: BTreeMap<Labels, Folded>,
}

/// A histogram folded into the exported bounds at observation time.
#[derive(Default)]
pub(crate) struct Folded {
    /// Calls at or under each of [`BOUNDS`].
    pub(crate) cumulative: [u64; BOUNDS.len()],
    /// Every call, also those above the last bound.
    pub(crate) count: u64,
    /// Their total time, seconds.
    pub(crate) sum: f64,
}

impl Family {
    /// An empty family, not sent over OTLP until [`Family::otlp`] says
    /// how.
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
    ) -> Self {
        Family {
            name,
            help,
            kind,
            labels,
            otlp: None,
            values: BTreeMap::new(),
            histograms: BTreeMap::new(),
        }
    }

    /// Sent over OTLP as `name` in `unit`.
    pub(crate) fn otlp(mut self, name: &'static str, unit: &'static str) -> Self {
        self.otlp = Some((name, unit));
        self
    }

    /// Nothing to export.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty() && self.histograms.is_empty()
    }

    /// Adds `value` to the series of `labels`.
    pub(crate) fn add(&mut self, labels: Labels, value: f64) {
        *self.values.entry(labels).or_default() += value;
    }

    /// Adds a histogram (and its total time, seconds) to the series of
    /// `labels`.
    pub(crate) fn observe(&mut self, labels: Labels, buckets: &Buckets, sum_seconds: f64) {
        let entry = self.histograms.entry(labels).or_default();
        for (total, n) in entry.cumulative.iter_mut().zip(cumulative(buckets)) {
            *total += n;
        }
        entry.count += buckets.count();
        entry.sum += sum_seconds;
    }

    /// As a prometheus protobuf family (for the `Collector`).
    pub(crate) fn build(self) -> Option<MetricFamily> {
        if self.is_empty() {
            return None;
        }
        let pairs = |values: &Labels| -> Vec<LabelPair> {
            self.labels
                .iter()
                .zip(values)
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name.to_string());
                    pair.set_value(value.clone());
                    pair
                })
                .collect()
        };
        let mut metrics = Vec::new();
        for (labels, value) in &self.values {
            let mut m = Metric::from_label(pairs(labels));
            match self.kind {
                Kind::Counter => {
                    let mut c = Counter::default();
                    c.set_value(*value);
                    m.set_counter(c);
                }
                Kind::Gauge | Kind::Histogram => {
                    let mut g = Gauge::default();
                    g.set_value(*value);
                    m.set_gauge(g);
                }
            }
            metrics.push(m);
        }
        for (labels, folded) in &self.histograms {
            let mut m = Metric::from_label(pairs(labels));
            m.set_histogram(histogram(folded));
            metrics.push(m);
        }
        let mut family = MetricFamily::default();
        family.set_name(self.name.to_string());
        family.set_help(self.help.to_string());
        family.set_field_type(match self.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
            Kind::Histogram => MetricType::HISTOGRAM,
        });
        family.set_metric(metrics);
        Some(family)
    }
}

/// Our fine buckets folded into the exported bounds, each value counted at
/// its bucket's midpoint; the count is every value recorded.
fn histogram(folded: &Folded) -> Histogram {
    let mut h = Histogram::default();
    h.set_sample_count(folded.count);
    h.set_sample_sum(folded.sum);
    h.set_bucket(
        BOUNDS
            .iter()
            .zip(folded.cumulative)
            .map(|(&le, count)| {
                let mut b = Bucket::default();
                b.set_upper_bound(le);
                b.set_cumulative_count(count);
                b
            })
            .collect(),
    );
    h
}

/// Cumulative counts at each of [`BOUNDS`]. Buckets are sorted, so one
/// pass with a moving bound does it.
fn cumulative(buckets: &Buckets) -> [u64; BOUNDS.len()] {
    let mut out = [0u64; BOUNDS.len()];
    let mut bound = 0;
    let mut below = 0;
    for &(bucket, n) in &buckets.0 {
        let seconds = bucket_midpoint(bucket as usize) as f64 / 1e9;
        while bound < BOUNDS.len() && seconds > BOUNDS[bound] {
            out[bound] = below;
            bound += 1;
        }
        if bound == BOUNDS.len() {
            break;
        }
        below += n;
    }
    for slot in &mut out[bound..] {
        *slot = below;
    }
    out
}

/// The `le` label values of [`BOUNDS`], as Prometheus's text format writes
/// floats.
const LE: [&str; 22] = [
    "1e-06", "2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005",
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10",
];

impl Family {
    /// Appends the family in Prometheus's text exposition format (0.0.4).
    pub(crate) fn write_text(&self, out: &mut String) {
        if self.is_empty() {
            return;
        }
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        let mut labels = String::new();
        for (values, value) in &self.values {
            self.label_text(values, &mut labels);
            let _ = write!(out, "{}", self.name);
            if !labels.is_empty() {
                let _ = write!(out, "{{{labels}}}");
            }
            let _ = writeln!(out, " {}", number(*value));
        }
        let mut prefix = String::new();
        for (values, folded) in &self.histograms {
            self.label_text(values, &mut labels);
            prefix.clear();
            prefix.push_str(self.name);
            prefix.push_str("_bucket{");
            prefix.push_str(&labels);
            if !labels.is_empty() {
                prefix.push(',');
            }
            prefix.push_str("le=\"");
            for (le, count) in LE
                .iter()
                .chain(["+Inf"].iter())
                .zip(folded.cumulative.iter().chain([folded.count].iter()))
            {
                out.push_str(&prefix);
                out.push_str(le);
                out.push_str("\"} ");
                push_u64(out, *count);
                out.push('\n');
            }
            let braces = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(out, "{}_sum{braces} {}", self.name, number(folded.sum));
            let _ = writeln!(out, "{}_count{braces} {}", self.name, folded.count);
        }
    }

    /// `a="x",b="y"` for a label set, into `out` (cleared first).
    fn label_text(&self, values: &Labels, out: &mut String) {
        out.clear();
        for (i, (name, value)) in self.labels.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

/// Appends a decimal integer without going through the formatter.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: whole numbers without a fraction, others as Rust
/// prints them (which Prometheus parses), NaN and infinities by name.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_labels_match_the_bounds() {
        for (le, bound) in LE.iter().zip(BOUNDS) {
            assert_eq!(le.parse::<f64>().unwrap(), bound);
        }
    }

    #[test]
    fn text_and_protobuf_agree() {
        let mut f = Family::new("x_seconds", "A \\ help\nline.", Kind::Histogram, &["db"]);
        let buckets = Buckets(vec![
            (vfscope_segment::bucket_of(3_000) as u16, 4),
            (vfscope_segment::bucket_of(2_000_000) as u16, 1),
        ]);
        f.observe(vec!["a\"b".into()], &buckets, 0.5);
        let mut text = String::new();
        f.write_text(&mut text);
        assert!(
            text.contains("# HELP x_seconds A \\\\ help\\nline."),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{db=\"a\\\"b\",le=\"5e-06\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{db=\"a\\\"b\",le=\"0.0025\"} 5"),
            "{text}"
        );
        assert!(text.contains("x_seconds_sum{db=\"a\\\"b\"} 0.5"), "{text}");
        assert!(
            text.contains("x_seconds_bucket{db=\"a\\\"b\",le=\"+Inf\"} 5"),
            "{text}"
        );
        assert!(text.contains("x_seconds_count{db=\"a\\\"b\"} 5"), "{text}");
        let proto = f.build().unwrap();
        let h = proto.get_metric()[0].get_histogram();
        let counts: Vec<u64> = h
            .get_bucket()
            .iter()
            .map(|b| b.cumulative_count())
            .collect();
        assert_eq!(counts, cumulative(&buckets).to_vec());
        let mut digits = String::new();
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            digits.clear();
            push_u64(&mut digits, n);
            assert_eq!(digits, n.to_string());
        }
    }
}
