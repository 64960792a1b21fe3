//! Measured times, their quantiles, and a straight-line fit.

use std::time::Duration;

/// Times in nanoseconds, sorted.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn new(mut ns: Vec<u64>) -> Self {
        ns.sort_unstable();
        Samples(ns)
    }

    pub fn of(times: &[Duration]) -> Self {
        Self::new(times.iter().map(|d| d.as_nanos() as u64).collect())
    }

    pub fn ns(&self) -> &[u64] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (nearest rank); 0 with no samples.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.0.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.0[rank - 1]
    }

    pub fn p50(&self) -> u64 {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> u64 {
        self.quantile(0.99)
    }

    pub fn mean(&self) -> f64 {
        self.0.iter().map(|&n| n as f64).sum::<f64>() / self.0.len().max(1) as f64
    }
}

/// `y = intercept + slope * x`, least squares, and how far off it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineFit {
    pub intercept: f64,
    pub slope: f64,
    /// The largest |measured - fitted| over the points.
    pub max_residual: f64,
    /// The coefficient of determination (1: every point on the line).
    pub r2: f64,
}

/// Fits a line through `points` (at least two distinct x).
pub fn fit_line(points: &[(f64, f64)]) -> Option<LineFit> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residual = |p: &(f64, f64)| p.1 - (intercept + slope * p.0);
    let ss_res: f64 = points.iter().map(|p| residual(p).powi(2)).sum();
    let ss_tot: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    Some(LineFit {
        intercept,
        slope,
        max_residual: points.iter().map(|p| residual(p).abs()).fold(0.0, f64::max),
        r2: if ss_tot == 0.0 {
            1.0
        } else {
            1.0 - ss_res / ss_tot
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let s = Samples::new((1..=100).rev().collect());
        assert_eq!(
            (s.p50(), s.p99(), s.quantile(0.0), s.quantile(1.0)),
            (50, 99, 1, 100)
        );
        assert_eq!(Samples::default().p50(), 0);
    }

    #[test]
    fn a_listing_cost_per_key_is_fitted_with_its_error() {
        // 7 ms + 0.48 ms per key, as moto lists (issue 25), one point 1 ms off.
        let points: Vec<(f64, f64)> = [0.0, 25.0, 50.0, 100.0, 200.0]
            .iter()
            .map(|&k| (k, 7.0 + 0.48 * k + if k == 50.0 { 1.0 } else { 0.0 }))
            .collect();
        let fit = fit_line(&points).unwrap();
        assert!((fit.slope - 0.48).abs() < 0.01, "{fit:?}");
        assert!((fit.intercept - 7.0).abs() < 0.5, "{fit:?}");
        assert!(fit.max_residual > 0.5 && fit.max_residual < 1.0, "{fit:?}");
        assert!(fit.r2 > 0.99 && fit.r2 < 1.0, "{fit:?}");
        let exact = fit_line(&[(0.0, 2.0), (10.0, 12.0)]).unwrap();
        assert_eq!((exact.intercept, exact.slope, exact.r2), (2.0, 1.0, 1.0));
        assert_eq!(fit_line(&[(1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(fit_line(&[(1.0, 2.0)]), None);
    }
}
