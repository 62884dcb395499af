//! The statistics against reference values computed once with scipy 1.17.1
//! and statsmodels 0.15.0 (tests/fixtures/stats/make_reference.py).

use recsweep::stats::{adjust, paired_t, permutation, wilcoxon, Correction};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
    corrections: Vec<Family>,
    permutation: Vec<PermutationCase>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    t_statistic: f64,
    t_pvalue: f64,
    w_statistic: f64,
    w_pvalue: f64,
}

#[derive(Deserialize)]
struct Family {
    p: Vec<f64>,
    holm: Vec<f64>,
    bonferroni: Vec<f64>,
    benjamini_hochberg: Vec<f64>,
}

#[derive(Deserialize)]
struct PermutationCase {
    d: Vec<f64>,
    exact_p: f64,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string("tests/fixtures/stats/reference.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= rel * expected.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn paired_t_matches_scipy_ttest_rel() {
    for c in reference().cases {
        let d: Vec<f64> = c.a.iter().zip(&c.b).map(|(a, b)| a - b).collect();
        let r = paired_t(&d).unwrap();
        assert!(
            close(r.statistic, c.t_statistic, 1e-9),
            "{}: t {} vs {}",
            c.name,
            r.statistic,
            c.t_statistic
        );
        assert!(
            close(r.p_value, c.t_pvalue, 1e-9),
            "{}: p {} vs {}",
            c.name,
            r.p_value,
            c.t_pvalue
        );
    }
}

#[test]
fn wilcoxon_matches_scipy_defaults() {
    for c in reference().cases {
        let d: Vec<f64> = c.a.iter().zip(&c.b).map(|(a, b)| a - b).collect();
        let r = wilcoxon(&d).unwrap();
        assert_eq!(r.statistic, c.w_statistic, "{}", c.name);
        assert!(
            close(r.p_value, c.w_pvalue, 1e-9),
            "{}: p {} vs {}",
            c.name,
            r.p_value,
            c.w_pvalue
        );
    }
}

#[test]
fn corrections_match_statsmodels_exactly() {
    for f in reference().corrections {
        assert_eq!(adjust(&f.p, Correction::Holm), f.holm);
        assert_eq!(adjust(&f.p, Correction::Bonferroni), f.bonferroni);
        assert_eq!(
            adjust(&f.p, Correction::BenjaminiHochberg),
            f.benjamini_hochberg
        );
        assert_eq!(adjust(&f.p, Correction::None), f.p);
    }
}

#[test]
fn permutation_p_is_within_monte_carlo_error_of_exact_enumeration() {
    let b = 10_000;
    for (i, c) in reference().permutation.iter().enumerate() {
        let p = permutation(&c.d, b, 42 + i as u64).unwrap();
        // Standard error of a Monte-Carlo proportion; 4.5 of them is a
        // false-alarm rate under 1e-5 per case.
        let se = (c.exact_p * (1.0 - c.exact_p) / b as f64).sqrt();
        assert!(
            (p - c.exact_p).abs() <= 4.5 * se + 1.0 / b as f64,
            "case {i}: {p} vs exact {}",
            c.exact_p
        );
    }
}

#[test]
fn properties_hold_on_every_case() {
    for c in reference().cases {
        let d: Vec<f64> = c.a.iter().zip(&c.b).map(|(a, b)| a - b).collect();
        let swapped: Vec<f64> = d.iter().map(|x| -x).collect();
        for (name, p, q) in [
            (
                "t",
                paired_t(&d).unwrap().p_value,
                paired_t(&swapped).unwrap().p_value,
            ),
            (
                "wilcoxon",
                wilcoxon(&d).unwrap().p_value,
                wilcoxon(&swapped).unwrap().p_value,
            ),
        ] {
            assert!((0.0..=1.0).contains(&p), "{}: {name} p {p}", c.name);
            assert!(
                close(p, q, 1e-12),
                "{}: {name} not symmetric: {p} vs {q}",
                c.name
            );
        }
    }
    for f in reference().corrections {
        for method in [
            Correction::Holm,
            Correction::Bonferroni,
            Correction::BenjaminiHochberg,
        ] {
            for (adjusted, raw) in adjust(&f.p, method).iter().zip(&f.p) {
                assert!(adjusted >= raw && *adjusted <= 1.0);
            }
        }
    }
}
