//! `recsweep bench`: timings of hot paths on synthetic inputs of a given
//! size, printed with the parameters so docs/benchmarks.md can cite them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use rayon::prelude::*;
use recsweep::data::CsrMatrix;
use recsweep::eval::{evaluate, ItemStats, MetricKind, MetricSet, Target};
use recsweep::models::{DotProduct, Scorer};
use recsweep::per_user_file::{write_tsv, PerUserTable};
use recsweep::report::figures::{self, Series};
use recsweep::stats::{bootstrap_ci, differences, paired_t, permutation, wilcoxon};

mod ann;

#[derive(Subcommand)]
pub enum Bench {
    /// Approximate indexes (HNSW, IVF) against the exact batched scan on
    /// real vectors: recall against queries per second, build time
    Ann(Box<ann::AnnArgs>),
    /// The paired tests on two synthetic per-user ndcg-like vectors
    Permutation(PermutationArgs),
    /// Full-ranking evaluation of a dot-product model on random factors:
    /// the scoring matrix products alone, then the whole evaluation
    Eval(EvalArgs),
    /// iALS training time per iteration on synthetic interactions
    Ials(IalsArgs),
    /// Training throughput (positives per second) of a model on a spec's train split
    Train(TrainArgs),
    /// Scoring cost per user against the whole catalogue: two_tower vs ncf;
    /// with --catalogues, rankers alone vs two_tower retrieval + ranker on N
    Scoring(ScoringArgs),
    /// The synthetic generator alone, then with the loader's cleaning;
    /// optionally writes the log as CSV and Parquet (to time the loader)
    Generate(GenerateArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 138_000)]
    users: usize,
    #[arg(long, default_value_t = 27_000)]
    items: usize,
    #[arg(long, default_value_t = 20_000_000)]
    interactions: usize,
    /// Write `user,item,rating,timestamp` with a header to this CSV file
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the same columns to this Parquet file
    #[arg(long)]
    parquet: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrainArgs {
    /// A spec whose dataset and split to train on (its models are ignored)
    spec: PathBuf,
    /// Override a spec key, e.g. --set dataset.path=data/u.data (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<recsweep::spec::Override>,
    /// The model to time
    #[arg(long, default_value = "two_tower")]
    model: String,
    /// Its params as inline YAML; `epochs` is set by the bench
    #[arg(
        long,
        default_value = "{dim: 64, hidden: [128], batch_size: 1024, normalize: true}"
    )]
    params: String,
    /// Epochs timed (after one warm-up fit of one epoch, subtracted as setup)
    #[arg(long, default_value_t = 3)]
    epochs: usize,
}

#[derive(Args)]
pub struct ScoringArgs {
    #[arg(long, default_value_t = 27_000)]
    items: usize,
    /// Users scored (timed)
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Catalogue sizes (e.g. 1000,10000,100000,1000000): per size, ncf and
    /// dcn ranking every item against a two_tower retriever's top N (exact
    /// and from an HNSW index) ranked by them
    #[arg(long, value_delimiter = ',')]
    catalogues: Vec<usize>,
    /// N of the two-stage comparison
    #[arg(long, default_value_t = 200)]
    candidates: usize,
    /// With --catalogues: also draw µs per user against catalogue size as
    /// an SVG figure at this path
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args)]
pub struct IalsArgs {
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    #[arg(long, default_value_t = 5_000)]
    items: usize,
    #[arg(long, default_value_t = 1_000_000)]
    interactions: usize,
    #[arg(long, default_value_t = 64)]
    dim: usize,
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// exact or cg
    #[arg(long, default_value = "cg")]
    solver: String,
    /// Also write the interactions as `user<TAB>item` lines to this file
    #[arg(long)]
    write: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long, default_value_t = 138_000)]
    users: usize,
    #[arg(long, default_value_t = 27_000)]
    items: usize,
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Train interactions per user, excluded from ranking (ML-20M averages 145)
    #[arg(long, default_value_t = 145)]
    history: usize,
    /// Cutoffs; the largest is the list length
    #[arg(long, value_delimiter = ',', default_value = "10,20,50,100")]
    k: Vec<usize>,
    #[arg(long, default_value_t = 256)]
    block_users: usize,
}

#[derive(Args)]
pub struct PermutationArgs {
    /// Users (paired values)
    #[arg(long, default_value_t = 138_000)]
    users: usize,
    /// Sign flips
    #[arg(long, default_value_t = 10_000)]
    permutations: usize,
    /// Timed repetitions; the minimum and the median are reported
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Also write the two vectors as per-user TSVs A and B into this folder
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Ann(args) => ann::run(*args),
        Bench::Permutation(args) => permutation_bench(args),
        Bench::Eval(args) => eval_bench(args),
        Bench::Ials(args) => ials_bench(args),
        Bench::Train(args) => train_bench(args),
        Bench::Scoring(args) => scoring_bench(args),
        Bench::Generate(args) => generate_bench(args),
    }
}

/// The synthetic dataset of a bench's size flags.
fn synthetic(users: usize, items: usize, interactions: usize) -> recsweep::spec::DatasetSpec {
    recsweep::spec::DatasetSpec {
        source: recsweep::spec::DataSource::Synthetic,
        users: Some(users),
        items: Some(items),
        interactions: Some(interactions),
        ..Default::default()
    }
}

fn generate_bench(args: GenerateArgs) -> Result<()> {
    use recsweep::data::{generate, load, Ids};
    use recsweep::table::{self, WriteColumn};
    let spec = synthetic(args.users, args.items, args.interactions);
    let start = Instant::now();
    let raw = generate(&spec.synthetic());
    let generated = start.elapsed().as_secs_f64();
    let rows = match &raw.users {
        Ids::Int(v) => v.len(),
        Ids::Str(v) => v.len(),
    };
    outln!("generate: {rows} rows in {generated:.2} s");
    if args.csv.is_some() || args.parquet.is_some() {
        let ints = |ids: &Ids| match ids {
            Ids::Int(v) => v.clone(),
            Ids::Str(_) => unreachable!("the generator writes integer ids"),
        };
        let (users, items) = (ints(&raw.users), ints(&raw.items));
        let ratings = raw.ratings.clone().unwrap_or_default();
        let timestamps = raw.timestamps.clone().unwrap_or_default();
        let columns = [
            WriteColumn::I64("user", &users),
            WriteColumn::I64("item", &items),
            WriteColumn::F64("rating", &ratings),
            WriteColumn::I64("timestamp", &timestamps),
        ];
        if let Some(path) = &args.csv {
            table::write_csv(path, &columns)
                .with_context(|| format!("writing {}", path.display()))?;
            outln!("wrote {}", path.display());
        }
        if let Some(path) = &args.parquet {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            table::write_parquet(file, &columns)
                .with_context(|| format!("writing {}", path.display()))?;
            outln!("wrote {}", path.display());
        }
    }
    drop(raw);
    let start = Instant::now();
    let (data, _) = load(&spec)?;
    outln!(
        "generate and clean (dedup, k-core, dense ids): {} interactions in {:.2} s",
        data.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn permutation_bench(args: PermutationArgs) -> Result<()> {
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    // ndcg@10 under leave-one-out: 0 or 1/log2(rank + 1); B is A with a
    // third of the users redrawn.
    let draw = |rng: &mut Pcg64Mcg| {
        if rng.random::<f64>() < 0.6 {
            0.0
        } else {
            1.0 / ((rng.random_range(1..=10) + 1) as f64).log2()
        }
    };
    let a: Vec<f64> = (0..args.users).map(|_| draw(&mut rng)).collect();
    let b: Vec<f64> = a
        .iter()
        .map(|&x| {
            if rng.random::<f64>() < 0.33 {
                draw(&mut rng)
            } else {
                x
            }
        })
        .collect();
    if let Some(dir) = &args.write {
        let users: Vec<String> = (0..args.users).map(|u| format!("u{u}")).collect();
        for (name, values) in [("A.tsv", &a), ("B.tsv", &b)] {
            let table = PerUserTable {
                users: users.clone(),
                columns: vec!["ndcg@10".into()],
                values: vec![values.clone()],
            };
            write_tsv(&dir.join(name), &table)?;
        }
    }
    let d = differences(&a, &b)?;
    let threads = rayon::current_num_threads();
    outln!(
        "{} users, {} permutations/resamples, {threads} threads, {} repetitions",
        args.users,
        args.permutations,
        args.repeat
    );
    let report = |name: &str, f: &dyn Fn() -> f64| -> Result<()> {
        let mut times = Vec::new();
        let mut value = 0.0;
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            value = f();
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        outln!(
            "{name:<28} min {:>9.4} s  median {:>9.4} s  (p = {value:.4e})",
            times[0],
            times[times.len() / 2]
        );
        Ok(())
    };
    report("paired_t", &|| paired_t(&d).map_or(f64::NAN, |r| r.p_value))?;
    report("wilcoxon", &|| wilcoxon(&d).map_or(f64::NAN, |r| r.p_value))?;
    report("permutation", &|| {
        permutation(&d, args.permutations, 7).unwrap_or(f64::NAN)
    })?;
    report("bootstrap (CI low)", &|| {
        bootstrap_ci(&d, args.permutations, 7, 0.95).map_or(f64::NAN, |r| r.0)
    })?;
    Ok(())
}

fn eval_bench(args: EvalArgs) -> Result<()> {
    let mut rng = Pcg64Mcg::seed_from_u64(2);
    let (nu, ni, d) = (args.users, args.items, args.dim);
    let mut factors =
        |n: usize| -> Vec<f32> { (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect() };
    let users = factors(nu);
    let items = factors(ni);
    let scorer = DotProduct::new(d, users, &items);
    let mut pairs = Vec::with_capacity(nu * args.history);
    let mut held_out = Vec::with_capacity(nu);
    for u in 0..nu as u32 {
        for _ in 0..args.history {
            pairs.push((u, rng.random_range(0..ni as u32)));
        }
        held_out.push((u, rng.random_range(0..ni as u32)));
    }
    let train = CsrMatrix::from_pairs(nu, ni, &pairs);
    drop(pairs);
    let truth = CsrMatrix::from_pairs(nu, ni, &held_out);
    let stats = ItemStats::new(train.column_counts(), 0.8, nu);
    let set = MetricSet {
        cutoffs: args.k.clone(),
        metrics: MetricKind::DEFAULT.to_vec(),
    };
    let evaluated = truth.nonempty_rows();
    outln!(
        "{nu} users × {ni} items, dim {d}, {} train interactions, K = {:?}, all {} metrics, {} threads, blocks of {}",
        train.nnz(),
        args.k,
        MetricKind::DEFAULT.len(),
        rayon::current_num_threads(),
        args.block_users
    );

    let start = Instant::now();
    let checksum: f64 = evaluated
        .par_chunks(args.block_users)
        .map_init(Vec::new, |out: &mut Vec<f32>, block| {
            out.resize(block.len() * ni, 0.0);
            scorer.score_block(block, out);
            f64::from(out[out.len() / 2])
        })
        .sum();
    let gemm = start.elapsed().as_secs_f64();
    let flops = 2.0 * (evaluated.len() * ni * d) as f64;
    outln!(
        "matrix products alone     {gemm:>8.3} s  ({:.1} GFLOP/s; checksum {checksum:.3})",
        flops / gemm / 1e9
    );

    let start = Instant::now();
    let target = Target {
        truth: &truth,
        exclude: vec![&train],
        history: Some(&train),
        candidates: None,
        preferences: None,
    };
    let result = evaluate(&scorer, &target, &set, &stats, args.block_users);
    let whole = start.elapsed().as_secs_f64();
    let ndcg = result
        .summary
        .metrics
        .iter()
        .find(|(m, _)| m.kind == MetricKind::Ndcg)
        .map_or(0.0, |(_, s)| s.mean);
    outln!(
        "whole evaluation          {whole:>8.3} s  (ratio {:.2}; {} users; ndcg@{} {ndcg:.5})",
        whole / gemm,
        result.summary.users,
        args.k[0]
    );
    if let Some(peak) = peak_memory() {
        outln!("peak resident memory      {peak}");
    }
    Ok(())
}

/// VmHWM from /proc (Linux); None elsewhere.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}

fn ials_bench(args: IalsArgs) -> Result<()> {
    use recsweep::data::load;
    use recsweep::models::{FitInput, ModelKind};
    let spec = synthetic(args.users, args.items, args.interactions);
    let (data, _) = load(&spec)?;
    let pairs: Vec<(u32, u32)> = data
        .users
        .iter()
        .copied()
        .zip(data.items.iter().copied())
        .collect();
    let train = CsrMatrix::from_pairs(data.n_users(), data.n_items(), &pairs);
    if let Some(path) = &args.write {
        let text: String = train.pairs().map(|(u, i)| format!("{u}\t{i}\n")).collect();
        std::fs::write(path, text)?;
    }
    let popularity = train.column_counts();
    outln!(
        "{} users × {} items, {} interactions, dim {}, solver {}, {} threads",
        train.n_rows(),
        train.n_cols(),
        train.nnz(),
        args.dim,
        args.solver,
        rayon::current_num_threads()
    );
    let mut times = Vec::new();
    for iterations in [1, 1 + args.iterations] {
        let params: serde_yaml::Mapping = serde_yaml::from_str(&format!(
            "{{dim: {}, iterations: {iterations}, solver: {}}}",
            args.dim, args.solver
        ))?;
        let config = ModelKind::Ials
            .configure(&params)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let start = Instant::now();
        config.fit(&FitInput::interactions(&train, &popularity, 1))?;
        times.push(start.elapsed().as_secs_f64());
    }
    // The difference of two fits removes setup (transpose, initialisation).
    outln!(
        "seconds per iteration (users and items): {:.4}",
        (times[1] - times[0]) / args.iterations as f64
    );
    Ok(())
}

fn configure(model: &str, params: &str) -> Result<Box<dyn recsweep::models::ModelConfig>> {
    use recsweep::models::ModelKind;
    let kind = ModelKind::ALL
        .into_iter()
        .find(|k| k.as_str() == model)
        .ok_or_else(|| anyhow::anyhow!("unknown model `{model}`"))?;
    let params: serde_yaml::Mapping = serde_yaml::from_str(params)?;
    kind.configure(&params).map_err(|issues| {
        anyhow::anyhow!(
            "{}",
            issues
                .iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// Times a fit of 1 epoch and of 1 + E epochs; the difference is E epochs
/// of training without setup or the final scorer build.
fn train_bench(args: TrainArgs) -> Result<()> {
    use recsweep::models::FitInput;
    use recsweep::runner::Experiment;
    let spec = recsweep::plan::load_spec(&args.spec, &args.overrides)?;
    let experiment = Experiment::prepare(spec)?;
    let train = &experiment.split.train;
    let popularity = train.column_counts();
    outln!(
        "{}: {} users × {} items, {} train positives; {} {}; {} threads",
        args.spec.display(),
        train.n_rows(),
        train.n_cols(),
        train.nnz(),
        args.model,
        args.params,
        rayon::current_num_threads()
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .build()?;
    let mut times = Vec::new();
    for epochs in [1, 1 + args.epochs] {
        let params = args
            .params
            .trim_end()
            .strip_suffix('}')
            .map(|p| format!("{p}, epochs: {epochs}}}"))
            .ok_or_else(|| anyhow::anyhow!("--params must be an inline mapping {{...}}"))?;
        let config = configure(&args.model, &params)?;
        let start = Instant::now();
        // Fit on a pool thread, as the runner does: a fit's parallel parts
        // then share the pool with it instead of a third, blocked thread.
        pool.install(|| config.fit(&FitInput::interactions(train, &popularity, 1)))?;
        times.push(start.elapsed().as_secs_f64());
    }
    let seconds = (times[1] - times[0]) / args.epochs as f64;
    outln!(
        "seconds per epoch: {seconds:.3}; positives per second: {:.0}",
        train.nnz() as f64 / seconds
    );
    Ok(())
}

/// Five random interactions per user over `items` items: enough to build
/// the models whose scoring is timed.
fn random_train(users: usize, items: usize) -> CsrMatrix {
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let pairs: Vec<(u32, u32)> = (0..users as u32)
        .flat_map(|u| (0..5).map(move |_| u))
        .map(|u| (u, rng.random_range(0..items.max(1) as u32)))
        .collect();
    CsrMatrix::from_pairs(users, items, &pairs)
}

/// A model of `model` with `params`, fitted on `train` (seed 1).
fn fitted(model: &str, params: &str, train: &CsrMatrix) -> Result<Box<dyn Scorer>> {
    Ok(configure(model, params)?
        .fit(&recsweep::models::FitInput::interactions(
            train,
            &train.column_counts(),
            1,
        ))?
        .scorer)
}

/// Wall time per user of scoring every user against the catalogue, in
/// blocks of 32 users in parallel as the evaluator runs them.
fn micros_per_user(scorer: &dyn Scorer, users: usize, items: usize) -> f64 {
    let users: Vec<u32> = (0..users as u32).collect();
    let start = Instant::now();
    users.par_chunks(32).for_each(|block| {
        let mut out = vec![0f32; block.len() * items];
        scorer.score_block(block, &mut out);
    });
    start.elapsed().as_secs_f64() * 1e6 / users.len().max(1) as f64
}

const TOWERS: &str = "{dim: 64, hidden: [128], epochs: 1}";
const NEUMF: &str = "{variant: neumf, dim: 32, hidden: [64, 32, 16], epochs: 1}";
const DCN: &str = "{dim: 32, cross_layers: 2, hidden: [64, 32], epochs: 1}";
const HNSW: &str = "{hnsw: {m: 8, ef_construction: 40, ef_search: 64}}";

/// Retrieval vs ranking: a two-tower model scores a user with one tower
/// pass and |I| dot products; NeuMF needs |I| forward passes.
fn scoring_bench(args: ScoringArgs) -> Result<()> {
    if !args.catalogues.is_empty() {
        return two_stage_bench(&args);
    }
    let n_users = args.users.max(1);
    let train = random_train(n_users, args.items);
    outln!(
        "{} items, {} users scored against all of them, {} threads",
        args.items,
        n_users,
        rayon::current_num_threads()
    );
    outln!("| model | params | multiply-adds per user | µs per user | parameters |");
    outln!("|---|---|---|---|---|");
    for (model, params) in [
        ("two_tower", TOWERS),
        ("mf", "{dim: 64, epochs: 1}"),
        ("ncf", NEUMF),
        ("dcn", DCN),
    ] {
        let scorer = fitted(model, params, &train)?;
        let micros = micros_per_user(scorer.as_ref(), n_users, args.items);
        let cost = scorer.cost();
        outln!(
            "| {model} | {params} | {} | {micros:.0} | {} |",
            cost.madds_per_user,
            cost.parameters
        );
    }
    Ok(())
}

/// Which catalogue size needs two stages: per size, each ranker scoring
/// every item, against a two_tower retriever's top N (exact, then from an
/// HNSW index) ranked by it.
fn two_stage_bench(args: &ScoringArgs) -> Result<()> {
    let n_users = args.users.max(1);
    let n = args.candidates;
    outln!(
        "{n_users} users per catalogue, N = {n} candidates, {} threads; HNSW {HNSW}",
        rayon::current_num_threads()
    );
    outln!("| items | ranker | ranker alone µs/user | exact top-N + ranker µs/user | HNSW top-N + ranker µs/user | alone / HNSW two-stage | HNSW build (s) | multiply-adds alone | exact two-stage | HNSW two-stage |");
    outln!("|---|---|---|---|---|---|---|---|---|---|");
    // (series name, style) → points (catalogue position, log10 µs).
    let mut series: Vec<Series> = Vec::new();
    let mut point = |name: String, style: usize, x: usize, micros: f64| {
        let y = micros.max(1e-3).log10();
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((x as f64, y)),
            None => series.push(Series {
                name,
                points: vec![(x as f64, y)],
                band: None,
                style,
            }),
        }
    };
    for (x, &items) in args.catalogues.iter().enumerate() {
        let train = random_train(n_users, items);
        for (ranker, params) in [("ncf", NEUMF), ("dcn", DCN)] {
            let alone = fitted(ranker, params, &train)?;
            let alone_micros = micros_per_user(alone.as_ref(), n_users, items);
            let staged = |index: &str| {
                fitted(
                    "pipeline",
                    &format!("{{retriever: {{model: two_tower, params: {TOWERS}}}, candidates: {n}, index: {index}, ranker: {{model: {ranker}, params: {params}}}}}"),
                    &train,
                )
            };
            let exact = staged("exact")?;
            let exact_micros = micros_per_user(exact.as_ref(), n_users, items);
            let hnsw = staged(HNSW)?;
            let build = hnsw
                .stages()
                .and_then(|s| s.index.map(|i| i.build_seconds))
                .unwrap_or(f64::NAN);
            let hnsw_micros = micros_per_user(hnsw.as_ref(), n_users, items);
            let base = if ranker == "ncf" { 0 } else { 3 };
            point(format!("{ranker} alone"), base, x, alone_micros);
            point(
                format!("two_tower exact + {ranker}"),
                base + 1,
                x,
                exact_micros,
            );
            point(
                format!("two_tower HNSW + {ranker}"),
                base + 2,
                x,
                hnsw_micros,
            );
            outln!(
                "| {items} | {ranker} | {alone_micros:.0} | {exact_micros:.0} | {hnsw_micros:.0} | {:.1}× | {:.1} | {} | {} | {} |",
                alone_micros / hnsw_micros,
                build,
                alone.cost().madds_per_user,
                exact.cost().madds_per_user,
                hnsw.cost().madds_per_user
            );
        }
    }
    if let Some(path) = &args.svg {
        let labels: Vec<String> = args.catalogues.iter().map(|n| n.to_string()).collect();
        let svg = figures::lines(
            &format!("Scoring one user: ranker alone vs two stages (N = {n})"),
            "catalogue items",
            "log10 µs per user",
            &series,
            Some(&labels),
        )
        .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
        recsweep::store::write_atomic(path, svg.as_bytes())?;
    }
    Ok(())
}
