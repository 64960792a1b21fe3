//! Delay distributions, sampled in nanoseconds.

use crate::rng::Rng;

/// z of the normal distribution's 99th percentile.
const Z99: f64 = 2.326_347_874_040_841;

/// A delay distribution. Samples are clamped at 0.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Fixed {
        ns: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    Normal {
        mean: f64,
        stddev: f64,
    },
    /// Given by its median and 99th percentile.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Pareto with scale (the minimum) and shape α.
    Pareto {
        scale: f64,
        shape: f64,
    },
}

impl Dist {
    /// A log-normal with median `p50` and 99th percentile `p99` (ns); a
    /// fixed time when the two are equal (a measurement with no spread).
    pub fn lognormal(p50: f64, p99: f64) -> Result<Self, &'static str> {
        if p50 >= 0.0 && p99 == p50 {
            return Ok(Dist::Fixed { ns: p50 });
        }
        if !(p50 > 0.0 && p99 > p50) {
            return Err("needs 0 < p50 <= p99");
        }
        Ok(Dist::LogNormal {
            mu: p50.ln(),
            sigma: (p99.ln() - p50.ln()) / Z99,
        })
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let ns = match *self {
            Dist::Fixed { ns } => ns,
            Dist::Uniform { min, max } => min + (max - min) * rng.unit(),
            Dist::Normal { mean, stddev } => mean + stddev * rng.normal(),
            Dist::LogNormal { mu, sigma } => (mu + sigma * rng.normal()).exp(),
            Dist::Pareto { scale, shape } => scale * rng.unit_open().powf(-1.0 / shape),
        };
        ns.clamp(0.0, 1e15) as u64
    }

    /// The median, for documentation and predictions.
    pub fn median_ns(&self) -> f64 {
        match *self {
            Dist::Fixed { ns } => ns,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Normal { mean, .. } => mean.max(0.0),
            Dist::LogNormal { mu, .. } => mu.exp(),
            Dist::Pareto { scale, shape } => scale * 2f64.powf(1.0 / shape),
        }
    }

    /// The mean (what a long run adds per call on average).
    pub fn mean_ns(&self) -> f64 {
        match *self {
            Dist::Fixed { ns } => ns,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Normal { mean, .. } => mean.max(0.0),
            Dist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Pareto { scale, shape } if shape > 1.0 => scale * shape / (shape - 1.0),
            Dist::Pareto { .. } => f64::INFINITY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantiles(d: &Dist, n: usize) -> (f64, f64) {
        let mut rng = Rng::new(7);
        let mut v: Vec<u64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        v.sort_unstable();
        (v[n / 2] as f64, v[n * 99 / 100] as f64)
    }

    fn close(got: f64, want: f64, tolerance: f64) -> bool {
        (got - want).abs() <= want * tolerance
    }

    #[test]
    fn samples_match_their_parameters() {
        let n = 200_000;
        let (p50, p99) = quantiles(&Dist::lognormal(1e6, 1e7).unwrap(), n);
        assert!(
            close(p50, 1e6, 0.02) && close(p99, 1e7, 0.05),
            "{p50} {p99}"
        );
        let (p50, p99) = quantiles(
            &Dist::Normal {
                mean: 5e5,
                stddev: 1e5,
            },
            n,
        );
        assert!(
            close(p50, 5e5, 0.01) && close(p99, 5e5 + Z99 * 1e5, 0.02),
            "{p50} {p99}"
        );
        let (p50, p99) = quantiles(&Dist::Uniform { min: 1e5, max: 3e5 }, n);
        assert!(
            close(p50, 2e5, 0.01) && close(p99, 2.98e5, 0.01),
            "{p50} {p99}"
        );
        // Pareto: quantile q is scale * (1 - q)^(-1/shape).
        let pareto = Dist::Pareto {
            scale: 1e5,
            shape: 2.0,
        };
        let (p50, p99) = quantiles(&pareto, n);
        assert!(
            close(p50, 1e5 * 2f64.sqrt(), 0.02) && close(p99, 1e6, 0.05),
            "{p50} {p99}"
        );
        assert!(close(pareto.median_ns(), 1e5 * 2f64.sqrt(), 1e-9));
        assert_eq!(quantiles(&Dist::Fixed { ns: 1e3 }, 10), (1e3, 1e3));
        assert!(Dist::lognormal(2.0, 1.0).is_err());
        assert_eq!(Dist::lognormal(2.0, 2.0), Ok(Dist::Fixed { ns: 2.0 }));
    }
}
