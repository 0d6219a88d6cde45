//! Error rates over repeated runs: mean, spread, 95 % confidence intervals, and whether two
//! variants differ — with the few special functions that needs.
//!
//! Over n ≥ 2 runs the interval is Student's t on the per-run rates (n − 1 degrees of
//! freedom). With one run, or when every run had the same rate (typically: no errors at all),
//! there is no spread to go on and the Wilson score interval of the pooled request counts is
//! used instead. Wilson treats requests as independent trials; errors that come in bursts are
//! not, so that interval is narrower than the truth.
//!
//! Two variants are compared with Welch's t-test on their per-run rates when both have at
//! least two runs (and some spread), else with a two-proportion z-test on the pooled counts.

use serde::{Deserialize, Serialize};

/// The significance level of [`Comparison::significant`].
pub const ALPHA: f64 = 0.05;

/// The standard normal quantile at 0.975 (the half-width of a 95 % interval in sd units).
const Z_975: f64 = 1.959_963_984_540_054;

/// Errors out of requests: one run, or several pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub errors: u64,
    pub requests: u64,
}

impl Counts {
    /// `errors / requests`, 0 without requests.
    pub fn rate(self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// The counts of `runs` summed.
    pub fn pooled(runs: &[Counts]) -> Counts {
        runs.iter().fold(Counts::default(), |acc, c| Counts {
            errors: acc.errors + c.errors,
            requests: acc.requests + c.requests,
        })
    }
}

/// How a confidence interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CiMethod {
    /// Student's t on the per-run rates, n − 1 degrees of freedom.
    StudentT,
    /// Wilson score interval of the pooled request counts (one run, or no spread between runs).
    Wilson,
}

/// The error rate of one variant over its runs; rates are fractions (0..1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateStats {
    /// The number of runs.
    pub n: usize,
    /// Mean of the per-run error rates.
    pub mean: f64,
    /// Sample standard deviation of the per-run rates; none for a single run.
    pub sd: Option<f64>,
    /// Coefficient of variation, sd / mean; none for a single run or a mean of 0.
    pub cv: Option<f64>,
    /// Lower bound of the 95 % confidence interval of the error rate.
    pub ci95_low: f64,
    /// Upper bound of the 95 % confidence interval of the error rate.
    pub ci95_high: f64,
    pub method: CiMethod,
}

impl RateStats {
    /// The statistics of `runs` (one entry per run).
    pub fn of(runs: &[Counts]) -> RateStats {
        let rates: Vec<f64> = runs.iter().map(|c| c.rate()).collect();
        let n = rates.len();
        let mean = mean(&rates);
        let sd = (n >= 2).then(|| variance(&rates, mean).sqrt());
        let cv = sd.filter(|_| mean > 0.0).map(|sd| sd / mean);
        let (ci95_low, ci95_high, method) = match sd {
            Some(sd) if sd > 0.0 => {
                let half = t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
                (
                    (mean - half).max(0.0),
                    (mean + half).min(1.0),
                    CiMethod::StudentT,
                )
            }
            _ => {
                let (low, high) = wilson(Counts::pooled(runs));
                (low, high, CiMethod::Wilson)
            }
        };
        RateStats {
            n,
            mean,
            sd,
            cv,
            ci95_low,
            ci95_high,
            method,
        }
    }

    /// How far the 95 % interval reaches from the mean: `mean ± margin` covers it. That is
    /// its half-width when it is symmetric (Student's t); Wilson's, or one cut at 0, is not,
    /// and the margin is its longer side.
    pub fn margin(&self) -> f64 {
        (self.ci95_high - self.mean).max(self.mean - self.ci95_low)
    }
}

/// The test behind a [`Comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// Welch's t-test on the per-run rates (unequal variances).
    Welch,
    /// Two-proportion z-test on the pooled request counts.
    TwoProportionZ,
}

impl Test {
    /// A short name for tables, e.g. `Welch`.
    pub fn short_name(self) -> &'static str {
        match self {
            Test::Welch => "Welch",
            Test::TwoProportionZ => "z-test",
        }
    }

    /// What the test is, in words.
    pub fn description(self) -> &'static str {
        match self {
            Test::Welch => "Welch's t-test on the per-run rates",
            Test::TwoProportionZ => "two-proportion z-test on the pooled request counts",
        }
    }
}

/// Whether the error rates of two variants differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub test: Test,
    /// The second variant's error rate minus the first's (means of per-run rates for Welch,
    /// pooled rates for the z-test).
    pub difference: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

impl Comparison {
    /// True when the difference is significant at the 5 % level.
    pub fn significant(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// Compare the runs of `a` with those of `b`: Welch's t-test on the per-run rates when both
/// have at least two runs and some spread between them, else a two-proportion z-test on the
/// pooled counts.
pub fn compare(a: &[Counts], b: &[Counts]) -> Comparison {
    let rates = |runs: &[Counts]| runs.iter().map(|c| c.rate()).collect::<Vec<f64>>();
    let (ra, rb) = (rates(a), rates(b));
    if ra.len() >= 2 && rb.len() >= 2 {
        let (ma, mb) = (mean(&ra), mean(&rb));
        let sa = variance(&ra, ma) / ra.len() as f64;
        let sb = variance(&rb, mb) / rb.len() as f64;
        let se2 = sa + sb;
        if se2 > 0.0 {
            let t = (mb - ma) / se2.sqrt();
            let df =
                se2 * se2 / (sa * sa / (ra.len() - 1) as f64 + sb * sb / (rb.len() - 1) as f64);
            return Comparison {
                test: Test::Welch,
                difference: mb - ma,
                p_value: t_two_sided_p(t, df),
            };
        }
    }
    let (pa, pb) = (Counts::pooled(a), Counts::pooled(b));
    let difference = pb.rate() - pa.rate();
    let both = Counts::pooled(&[pa, pb]);
    let p = both.rate();
    let se = if pa.requests == 0 || pb.requests == 0 {
        0.0
    } else {
        (p * (1.0 - p) * (1.0 / pa.requests as f64 + 1.0 / pb.requests as f64)).sqrt()
    };
    let p_value = if se > 0.0 {
        erfc((difference / se).abs() / std::f64::consts::SQRT_2)
    } else {
        1.0
    };
    Comparison {
        test: Test::TwoProportionZ,
        difference,
        p_value,
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample variance (n − 1 in the denominator); 0 for fewer than two values.
fn variance(xs: &[f64], mean: f64) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

/// The Wilson score 95 % interval of a binomial proportion; [0, 1] without trials.
fn wilson(c: Counts) -> (f64, f64) {
    if c.requests == 0 {
        return (0.0, 1.0);
    }
    let n = c.requests as f64;
    let p = c.rate();
    let z2 = Z_975 * Z_975;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_975 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At 0 (or every request failing) the bound is exact; keep rounding from moving it.
    let low = if c.errors == 0 { 0.0 } else { centre - half };
    let high = if c.errors >= c.requests {
        1.0
    } else {
        centre + half
    };
    (low.max(0.0), high.min(1.0))
}

/// P(|T| ≥ |t|) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom.
fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of freedom, by bisection
/// of its distribution function.
fn t_quantile(p: f64, df: f64) -> f64 {
    let upper_tail = |t: f64| t_two_sided_p(t, df) / 2.0;
    let target = 1.0 - p;
    let mut hi = 2.0;
    while upper_tail(hi) > target {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if upper_tail(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, about 15 correct digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let sum = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x below the mean; use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz's method).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=500 {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / nonzero(1.0 + even * d);
        c = nonzero(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / nonzero(1.0 + odd * d);
        c = nonzero(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The complementary error function (Chebyshev fit, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ]
    .iter()
    .rev()
    .fold(0.0, |acc, c| c + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol,
            "got {got}, want {want} (± {tol})"
        );
    }

    fn runs(pairs: &[(u64, u64)]) -> Vec<Counts> {
        pairs
            .iter()
            .map(|&(errors, requests)| Counts { errors, requests })
            .collect()
    }

    #[test]
    fn special_functions_match_known_values() {
        close(ln_gamma(1.0), 0.0, 1e-13);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-13);
        close(ln_gamma(10.0), 362_880f64.ln(), 1e-12);
        // I_x(a, b) for whole a, b is a binomial tail: P(Bin(a + b − 1, x) ≥ a).
        close(incomplete_beta(2.0, 3.0, 0.5), 0.6875, 1e-13);
        close(incomplete_beta(2.0, 5.0, 0.3), 0.579_825, 1e-12);
        close(
            incomplete_beta(2.5, 0.5, 0.9),
            0.489_589_744_564_427_5,
            1e-12,
        );
        close(erfc(0.5), 0.479_500_122_186_953_5, 1e-7);
        close(erfc(1.0), 0.157_299_207_050_285_1, 1e-7);
        close(erfc(2.0), 0.004_677_734_981_047_266, 1e-9);
        close(erfc(-1.0), 2.0 - 0.157_299_207_050_285_1, 1e-7);
    }

    #[test]
    fn student_t_matches_tables() {
        for (df, want) in [
            (1.0, 12.706_204_736),
            (2.0, 4.302_652_730),
            (4.0, 2.776_445_105),
            (9.0, 2.262_157_163),
            (29.0, 2.045_229_642),
            (99.0, 1.984_216_952),
        ] {
            close(t_quantile(0.975, df), want, 1e-8);
        }
        // One degree of freedom is the Cauchy distribution: P(|T| ≥ 1) = 1/2.
        close(t_two_sided_p(1.0, 1.0), 0.5, 1e-12);
        close(t_two_sided_p(2.0, 3.5), 0.126_138_522_575_913_5, 1e-12);
        close(t_two_sided_p(0.0, 7.0), 1.0, 1e-12);
    }

    #[test]
    fn one_run_gets_a_wilson_interval() {
        let s = RateStats::of(&runs(&[(10, 100)]));
        assert_eq!(
            (s.n, s.sd, s.cv, s.method),
            (1, None, None, CiMethod::Wilson)
        );
        close(s.mean, 0.1, 1e-15);
        close(s.ci95_low, 0.055_229, 1e-6);
        close(s.ci95_high, 0.174_366, 1e-6);
        close(s.margin(), 0.174_366 - 0.1, 1e-6);
        // No errors at all still has an upper bound.
        let s = RateStats::of(&runs(&[(0, 1000)]));
        assert_eq!(s.ci95_low, 0.0);
        close(s.ci95_high, 0.003_827, 1e-6);
    }

    #[test]
    fn several_runs_get_a_student_t_interval() {
        // Rates 4 %, 5 %, 6 %, 5 %, 5 %: mean 5 %, sd 0.7071 %, t(0.975, 4) = 2.776.
        let s = RateStats::of(&runs(&[
            (40, 1000),
            (50, 1000),
            (60, 1000),
            (50, 1000),
            (50, 1000),
        ]));
        assert_eq!((s.n, s.method), (5, CiMethod::StudentT));
        close(s.mean, 0.05, 1e-15);
        close(s.sd.unwrap(), 0.007_071_068, 1e-9);
        close(s.cv.unwrap(), 0.141_421_36, 1e-8);
        let half = 2.776_445_105 * 0.007_071_068 / 5f64.sqrt();
        close(s.margin(), half, 1e-9);
        close(s.ci95_low, 0.05 - half, 1e-9);
    }

    #[test]
    fn runs_without_spread_fall_back_to_wilson() {
        let s = RateStats::of(&runs(&[(0, 1000), (0, 3000)]));
        assert_eq!((s.sd, s.cv, s.method), (Some(0.0), None, CiMethod::Wilson));
        assert_eq!(s.ci95_low, 0.0);
        close(s.ci95_high, 0.000_959, 1e-6);
    }

    #[test]
    fn welch_matches_a_worked_example() {
        // Per-run "rates" chosen to give Welch's classic unequal-variance example.
        let a = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8];
        let b = [
            21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5,
            23.6, 21.5, 22.5, 23.5, 21.5, 21.8,
        ];
        let as_counts = |xs: &[f64]| -> Vec<Counts> {
            xs.iter()
                .map(|x| Counts {
                    errors: (x * 10.0).round() as u64,
                    requests: 1000,
                })
                .collect()
        };
        let c = compare(&as_counts(&a), &as_counts(&b));
        assert_eq!(c.test, Test::Welch);
        close(c.p_value, 0.148_841_696_605_327_9, 1e-10);
        close(c.difference, 0.015_25, 1e-12);
        assert!(!c.significant());

        let base = runs(&[(42, 1000), (45, 1000), (40, 1000)]);
        let fix = runs(&[(0, 1000), (0, 5000), (1, 5000)]);
        let c = compare(&base, &fix);
        assert_eq!(c.test, Test::Welch);
        close(c.p_value, 0.001_155_375_366_448_888, 1e-10);
        assert!(c.significant());
    }

    #[test]
    fn single_runs_are_compared_on_pooled_counts() {
        let c = compare(&runs(&[(45, 100)]), &runs(&[(30, 100)]));
        assert_eq!(c.test, Test::TwoProportionZ);
        close(c.difference, -0.15, 1e-15);
        close(c.p_value, 0.028_459_736_916_310_58, 1e-7);
        assert!(c.significant());
        // Runs without spread on both sides also use the pooled counts.
        let c = compare(&runs(&[(0, 500), (0, 500)]), &runs(&[(0, 800), (0, 900)]));
        assert_eq!((c.test, c.p_value), (Test::TwoProportionZ, 1.0));
        assert!(!c.significant());
    }
}
