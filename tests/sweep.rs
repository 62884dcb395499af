//! Sweep expansion: counts, skipped knobs, seeds only where they matter,
//! stable ids and seeded random search.

use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::sweep::expand;

const BASE: &str =
    "name: s\nseed: 1\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\n";

fn expansion(rest: &str) -> recsweep::sweep::Expansion {
    let spec = parse_spec(&format!("{BASE}{rest}"), Path::new("s.yaml"), &[]).unwrap();
    expand(&spec).unwrap()
}

#[test]
fn grid_is_a_cartesian_product_per_model_with_skipped_knobs() {
    let e = expansion(
        "models:\n  - model: ease\n  - model: itemknn\n  - model: random\n\
         sweep:\n  grid:\n    l2: [10.0, 100.0]\n    neighbors: [5, 10, 20]\n    popularity: [{method: none}, {method: penalty, gamma: 0.1}, {method: weight, beta: 0.5}]\n  seeds: 3\n",
    );
    let count = |model: &str| e.trials.iter().filter(|t| t.model_name == model).count();
    // ease: l2 × popularity (weight skipped) = 2 × 2; neighbors is not its param.
    assert_eq!(count("ease"), 4);
    // itemknn: neighbors × popularity = 3 × 2.
    assert_eq!(count("itemknn"), 6);
    // random: popularity (2) × 3 seeds: only stochastic models repeat seeds.
    assert_eq!(count("random"), 6);
    let ease_neighbors = e
        .knobs
        .iter()
        .find(|k| k.model == "ease" && k.knob == "neighbors")
        .unwrap();
    assert!(
        ease_neighbors.applied.is_empty() && ease_neighbors.note.contains("not a param of ease")
    );
    let ease_pop = e
        .knobs
        .iter()
        .find(|k| k.model == "ease" && k.knob == "popularity")
        .unwrap();
    assert_eq!((ease_pop.applied.len(), ease_pop.skipped.len()), (2, 1));
}

#[test]
fn model_sweeps_replace_the_grid_and_duplicates_collapse() {
    let e = expansion(
        "models:\n  - model: ease\n    params: {l2: 100.0}\n    sweep: {l2: [100.0, 300.0]}\n  - model: most_pop\n\
         sweep:\n  grid:\n    l2: [1.0e-4]\n    popularity: [{method: none}, {method: none}]\n",
    );
    let ease: Vec<_> = e.trials.iter().filter(|t| t.model_name == "ease").collect();
    assert_eq!(
        ease.len(),
        2,
        "l2 from the model's sweep, popularity duplicates collapsed"
    );
    assert_eq!(
        e.trials
            .iter()
            .filter(|t| t.model_name == "most_pop")
            .count(),
        1
    );
}

#[test]
fn trial_ids_are_stable_and_distinct() {
    let text = "models:\n  - model: random\nsweep:\n  seeds: 2\n";
    let a = expansion(text);
    let b = expansion(text);
    assert_eq!(a, b);
    assert_ne!(a.trials[0].id, a.trials[1].id);
    assert_eq!(a.trials[0].config_id, a.trials[1].config_id);
    assert_ne!(a.trials[0].seed, a.trials[1].seed);
    // The id names the configuration: a different base seed changes seeds, not the config.
    let other = parse_spec(
        &format!("{}{text}", BASE.replace("seed: 1", "seed: 2")),
        Path::new("s.yaml"),
        &[],
    )
    .unwrap();
    let c = expand(&other).unwrap();
    assert_eq!(c.trials[0].config_id, a.trials[0].config_id);
    assert_ne!(c.trials[0].id, a.trials[0].id);
}

#[test]
fn random_search_draws_seeded_samples_within_bounds() {
    let text = "models:\n  - model: ease\n  - model: itemknn\n\
                sweep:\n  random:\n    samples: 5\n    space:\n      l2: {log_uniform: [10.0, 1000.0]}\n      neighbors: {int_uniform: [5, 8]}\n      popularity: {choice: [{method: none}, {method: penalty, gamma: 0.1}]}\n";
    let e = expansion(text);
    assert_eq!(e, expansion(text), "same seed, same samples");
    let ease: Vec<_> = e.trials.iter().filter(|t| t.model_name == "ease").collect();
    assert!(!ease.is_empty() && ease.len() <= 5);
    for t in &ease {
        let l2 = t.knobs.get("l2").and_then(|v| v.as_f64()).unwrap();
        assert!((10.0..=1000.0).contains(&l2), "{l2}");
        assert!(
            t.knobs.get("neighbors").is_none(),
            "neighbors is not an ease param"
        );
    }
    for t in e.trials.iter().filter(|t| t.model_name == "itemknn") {
        let n = t.knobs.get("neighbors").and_then(|v| v.as_i64()).unwrap();
        assert!((5..=8).contains(&n), "{n}");
    }
}

/// A knob that cannot act (dropout without a dense layer, temperature
/// without a softmax) runs once, is not a tested knob, and says why.
#[test]
fn knobs_that_cannot_act_run_once_and_say_why() {
    let e = expansion(
        "models:\n  - model: two_tower\n    params: {hidden: []}\n    sweep: {dropout: [0.0, 0.2], temperature: [0.1, 0.2]}\n\
         \x20 - model: mf\n    sweep: {temperature: [0.1, 0.5]}\n\
         \x20 - model: dcn\n    sweep: {hidden: [[], [16]], dropout: [0.0, 0.5]}\n\
         \x20 - model: ncf\n    params: {variant: gmf, dropout: 0.3}\n\
         \x20 - model: two_tower\n    name: plain\n    params: {hidden: []}\n",
    );
    let of = |m: &str| {
        e.trials
            .iter()
            .filter(|t| t.model_name == m)
            .collect::<Vec<_>>()
    };
    // Seeds: one by default.
    assert_eq!(of("two_tower").len(), 2);
    assert!(of("two_tower")
        .iter()
        .all(|t| !t.knobs.contains_key("dropout")));
    assert_eq!(of("mf").len(), 1);
    // dcn: hidden [] once, hidden [16] with both dropouts.
    assert_eq!(of("dcn").len(), 3);
    let note = |m: &str, k: &str| {
        let u = e
            .knobs
            .iter()
            .find(|u| u.model == m && u.knob == k)
            .unwrap();
        (u.applied.len(), u.note.clone())
    };
    let (applied, why) = note("two_tower", "dropout");
    assert_eq!(applied, 0);
    assert!(why.starts_with("no effect in this configuration") && why.contains("hidden: []"));
    assert!(note("mf", "temperature").1.contains("loss: bpr"));
    assert_eq!(note("dcn", "dropout").0, 2);
    assert!(note("dcn", "dropout")
        .1
        .contains("no effect in some configurations"));
    assert_eq!(note("two_tower", "temperature").1, "");
    assert_eq!(
        e.warnings
            .iter()
            .filter(|w| w.contains("has no effect"))
            .count(),
        4
    );
    // Set in params to a value other than the default: warned; left at the
    // default (plain two_tower): not.
    assert!(e
        .warnings
        .iter()
        .any(|w| w.starts_with("ncf: `dropout` is set but has no effect")));
    assert!(!e.warnings.iter().any(|w| w.starts_with("plain")));
}
