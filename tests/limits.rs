//! Every numeric key of every section and model, fed values at its
//! documented limits, just beyond them, a seeded random value inside them
//! and a huge one (1e12, 1e308, negatives): `recsweep run` must end with
//! exit 0 (ran), 1 (a trial failed, said so) or 2 (bad input), never a
//! panic, an abort or a hang. Each run is on 40 users × 30 items and is
//! killed after [`LIMIT`], so the whole test is bounded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BASE: &str = "name: limits\nseed: 1\n\
dataset: {source: synthetic, users: 40, items: 30, interactions: 400, seed: 2}\n\
evaluation: {cutoffs: [10]}\nmodels:\n  - model: most_pop\n";

/// Longest a single run may take: the slowest limit cases (a 4,096-wide
/// two_tower or mf, one epoch) take about 6 s here.
const LIMIT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
}

/// A key as `--set KEY=TEMPLATE`, `V` standing for the value, with its
/// documented range. `lo_open` (`> lo`) and `hi_open` (`< hi`) mark strict
/// bounds; `hi_runs: false` marks an upper limit too large to run here
/// (10 million synthetic users), checked only just beyond it.
struct Key {
    set: &'static str,
    template: &'static str,
    kind: Kind,
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
    hi_runs: bool,
}

const INF: f64 = f64::INFINITY;

const fn key(set: &'static str, template: &'static str, kind: Kind, lo: f64, hi: f64) -> Key {
    Key {
        set,
        template,
        kind,
        lo,
        lo_open: false,
        hi,
        hi_open: false,
        hi_runs: true,
    }
}

const fn open_lo(mut k: Key) -> Key {
    k.lo_open = true;
    k
}

const fn open_hi(mut k: Key) -> Key {
    k.hi_open = true;
    k
}

const fn too_big_to_run(mut k: Key) -> Key {
    k.hi_runs = false;
    k
}

use Kind::{Float, Int};

const M: &str = "models[0]";

fn keys() -> Vec<Key> {
    vec![
        too_big_to_run(key("dataset.users", "V", Int, 2.0, 1e7)),
        too_big_to_run(key("dataset.items", "V", Int, 2.0, 1e7)),
        key("dataset.interactions", "V", Int, 40.0, 600.0),
        key("dataset.latent_dim", "V", Int, 1.0, 1024.0),
        key("dataset.popularity_exponent", "V", Float, 0.0, INF),
        key("dataset.affinity", "V", Float, 0.0, INF),
        key("dataset.exposure_bias", "V", Float, 0.0, INF),
        key("dataset.seed", "V", Int, 0.0, INF),
        open_hi(open_lo(key("split", "{method: random_holdout, test_fraction: V}", Float, 0.0, 1.0))),
        open_hi(open_lo(key("split", "{method: temporal, test_fraction: V}", Float, 0.0, 1.0))),
        open_hi(open_lo(key("split", "{method: cold_items, test_fraction: V}", Float, 0.0, 1.0))),
        open_hi(open_lo(key("split", "{method: cold_users, test_fraction: V}", Float, 0.0, 1.0))),
        key("evaluation.cutoffs", "[10, V]", Int, 1.0, INF),
        open_lo(key("evaluation.head_share", "V", Float, 0.0, 1.0)),
        key("evaluation.block_users", "V", Int, 1.0, INF),
        key("evaluation", "{cutoffs: [10], metrics: [ndcg, ips_recall, snips_ndcg], propensity: {exponent: V}}", Float, 0.0, 10.0),
        key("evaluation", "{cutoffs: [10], metrics: [ndcg, ips_recall], propensity: {exponent: 1, clip: V}}", Float, 1.0, INF),
        key("evaluation", "{cutoffs: [10], metrics: [ndcg, ips_recall], propensity: {preset: yang2018, gamma: V}}", Float, 0.0, 19.0),
        key("evaluation", "{cutoffs: [10], protocol: {sampled: {negatives: V}}}", Int, 1.0, INF),
        key("simulation", "{rounds: V}", Int, 1.0, 1000.0),
        key("simulation", "{rounds: 2, k: V}", Int, 1.0, 30.0),
        key("simulation", "{rounds: 2, epsilon: [V]}", Float, 0.0, 1.0),
        open_lo(key("simulation", "{rounds: 2, truth: {model: most_pop, temperature: V}}", Float, 0.0, INF)),
        key(M, "{model: itemknn, params: {neighbors: V}}", Int, 1.0, INF),
        key(M, "{model: itemknn, params: {shrinkage: V}}", Float, 0.0, INF),
        open_lo(key(M, "{model: ease, params: {l2: V}}", Float, 0.0, INF)),
        // The exact solver's Cholesky per row is d³ (minutes at d = 4,096
        // even here): the limit is run with conjugate gradients.
        key(M, "{model: ials, params: {solver: cg, dim: V}}", Int, 1.0, 4096.0),
        key(M, "{model: ials, params: {dim: 4, iterations: V}}", Int, 1.0, 10000.0),
        key(M, "{model: ials, params: {alpha: V}}", Float, 0.0, 1e6),
        open_lo(key(M, "{model: ials, params: {l2: V}}", Float, 0.0, 1e30)),
        key(M, "{model: ials, params: {solver: cg, cg_steps: V}}", Int, 1.0, INF),
        key(M, "{model: mf, params: {epochs: 1, dim: V}}", Int, 1.0, 4096.0),
        key(M, "{model: mf, params: {epochs: V}}", Int, 1.0, 10000.0),
        key(M, "{model: mf, params: {epochs: 1, batch_size: V}}", Int, 2.0, INF),
        open_lo(key(M, "{model: mf, params: {epochs: 1, learning_rate: V}}", Float, 0.0, INF)),
        key(M, "{model: mf, params: {epochs: 1, l2: V}}", Float, 0.0, INF),
        open_lo(key(M, "{model: mf, params: {epochs: 1, loss: softmax, temperature: V}}", Float, 0.0, INF)),
        key(M, "{model: mf, params: {epochs: 2, patience: V}}", Int, 0.0, INF),
        key(M, "{model: mf, params: {epochs: 1, popularity: {method: weight, beta: V}}}", Float, 0.0, 10.0),
        open_lo(key(M, "{model: mf, params: {epochs: 1, popularity: {method: subsample, t: V}}}", Float, 0.0, INF)),
        key(M, "{model: mf, params: {epochs: 1, loss: softmax, popularity: {method: logq, alpha: V}}}", Float, 0.0, INF),
        key(M, "{model: mf, params: {epochs: 1, popularity: {method: negatives, exponent: V}}}", Float, 0.0, INF),
        key(M, "{model: mf, params: {epochs: 1, popularity: {method: penalty, gamma: V}}}", Float, 0.0, INF),
        key(M, "{model: two_tower, params: {epochs: 1, dim: V}}", Int, 1.0, 4096.0),
        key(M, "{model: two_tower, params: {epochs: 1, hidden: [V]}}", Int, 1.0, 4096.0),
        open_hi(key(M, "{model: two_tower, params: {epochs: 1, dropout: V}}", Float, 0.0, 1.0)),
        key(M, "{model: two_tower, params: {epochs: 1, l2: V}}", Float, 0.0, INF),
        open_lo(key(M, "{model: two_tower, params: {epochs: 1, temperature: V}}", Float, 0.0, INF)),
        key(M, "{model: two_tower, params: {epochs: 1, batch_size: V}}", Int, 2.0, INF),
        key(M, "{model: ncf, params: {epochs: 1, dim: V}}", Int, 1.0, 4096.0),
        key(M, "{model: ncf, params: {epochs: 1, hidden: [V]}}", Int, 1.0, 4096.0),
        key(M, "{model: ncf, params: {epochs: 1, negatives: V}}", Int, 1.0, 1000.0),
        key(M, "{model: ncf, params: {epochs: 1, batch_size: V}}", Int, 1.0, INF),
        open_hi(key(M, "{model: ncf, params: {epochs: 1, dropout: V}}", Float, 0.0, 1.0)),
        // Full rank at dim 4,096 is an 8,192² cross matrix per layer (50 s
        // and 2 GB here, twice that beside another case), so the wide case
        // runs low-rank, as DCN-V2 advises for wide inputs; the `low_rank`
        // key below covers full rank (0) at a small dim.
        key(M, "{model: dcn, params: {epochs: 1, low_rank: 4, dim: V}}", Int, 1.0, 4096.0),
        key(M, "{model: dcn, params: {epochs: 1, cross_layers: V}}", Int, 1.0, 64.0),
        open_hi(key(M, "{model: dcn, params: {epochs: 1, dim: 4, low_rank: V}}", Int, 0.0, 8.0)),
        key(M, "{model: dcn, params: {epochs: 1, negatives: V}}", Int, 1.0, 1000.0),
        key(M, "{model: dcn, params: {epochs: 1, hidden: [V]}}", Int, 1.0, 4096.0),
        key(M, "{model: pipeline, params: {candidates: V, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}}}", Int, 1.0, 30.0),
        key(M, "{model: pipeline, params: {candidates: 10, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}, index: {hnsw: {m: V}}}}", Int, 2.0, INF),
        key(M, "{model: pipeline, params: {candidates: 10, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}, index: {hnsw: {ef_construction: V}}}}", Int, 1.0, INF),
        key(M, "{model: pipeline, params: {candidates: 10, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}, index: {hnsw: {ef_search: V}}}}", Int, 1.0, INF),
        key(M, "{model: pipeline, params: {candidates: 10, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}, index: {ivf: {lists: V}}}}", Int, 1.0, INF),
        key(M, "{model: pipeline, params: {candidates: 10, retriever: {model: ials, params: {dim: 4, iterations: 1}}, ranker: {model: most_pop}, index: {ivf: {lists: 4, probes: V}}}}", Int, 1.0, 4.0),
    ]
}

/// A seeded stream (SplitMix64), so a failure names a value that reruns.
struct Stream(u64);

impl Stream {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

/// The values tried for `k`: its limits, just beyond them, one random
/// value inside (within 100 of the lower limit for unbounded keys) and
/// the huge and negative ones a typo makes.
fn values(k: &Key, stream: &mut Stream) -> Vec<String> {
    let mut out: Vec<f64> = Vec::new();
    let step = match k.kind {
        Int => 1.0,
        Float => 1e-9,
    };
    let (lo, hi) = (k.lo, k.hi);
    out.push(if k.lo_open { lo + step } else { lo });
    out.push(if k.lo_open { lo } else { lo - step });
    if hi.is_finite() {
        if k.hi_runs {
            out.push(if k.hi_open { hi - step } else { hi });
        }
        out.push(if k.hi_open { hi } else { hi + step });
    }
    let top = if hi.is_finite() { hi } else { lo + 100.0 };
    out.push(lo + (top - lo) * stream.unit());
    match k.kind {
        Int => out.extend([1e12, -3.0]),
        Float => out.extend([1e308, -1e308]),
    }
    out.into_iter()
        .map(|v| match k.kind {
            Int => format!("{}", v.round() as i64),
            Float => format!("{v:?}"),
        })
        .collect()
}

/// Exit code (None when killed: a signal or the time limit) and stderr.
fn run(dir: &Path, set: &str) -> (Option<i32>, String) {
    let err_path = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_recsweep"))
        .current_dir(dir)
        .args([
            "run",
            "spec.yaml",
            "--quiet",
            "--results",
            "r",
            "--jobs",
            "1",
        ])
        .args(["--set", set])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.and_then(|s| s.code()), err)
}

#[test]
fn every_numeric_key_at_and_beyond_its_limits_exits_0_1_or_2() {
    let mut stream = Stream(20261205);
    let cases: Vec<String> = keys()
        .iter()
        .flat_map(|k| {
            values(k, &mut stream)
                .into_iter()
                .map(|v| format!("{}={}", k.set, k.template.replace('V', &v)))
                .collect::<Vec<_>>()
        })
        .collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let counts = Mutex::new([0usize; 3]);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(set) = cases.get(i) else { break };
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("spec.yaml"), BASE).unwrap();
                let (code, err) = run(dir.path(), set);
                let ok = match code {
                    Some(c @ (0 | 2)) => Some(c),
                    Some(1) if err.contains("trial(s) failed") => Some(1),
                    _ => None,
                };
                if ok == Some(1) && std::env::var_os("LIMITS_VERBOSE").is_some() {
                    println!("failed trial: --set {set}");
                }
                match ok {
                    Some(c) if !err.contains("panicked") => counts.lock().unwrap()[c as usize] += 1,
                    _ => failures.lock().unwrap().push(format!(
                        "--set {set}: exit {code:?}\n{}",
                        err.lines().rev().take(6).collect::<Vec<_>>().join("\n")
                    )),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let [ran, failed, refused] = counts.into_inner().unwrap();
    println!(
        "{} values: {ran} ran, {failed} with a failed trial, {refused} refused",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The bounds are real: values beyond them are refused, values at them run.
    assert!(
        refused > cases.len() / 3 && ran > cases.len() / 4,
        "{ran} ran, {refused} refused"
    );
}
