//! `recsweep bench`: timings of hot paths on synthetic inputs of a given
//! size, printed with the parameters so docs/benchmarks.md can cite them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use recsweep::per_user_file::{write_tsv, PerUserTable};
use recsweep::stats::{bootstrap_ci, differences, paired_t, permutation, wilcoxon};

#[derive(Subcommand)]
pub enum Bench {
    /// The paired tests on two synthetic per-user ndcg-like vectors
    Permutation(PermutationArgs),
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
        Bench::Permutation(args) => permutation_bench(args),
    }
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
    println!(
        "{} users, {} permutations/resamples, {threads} threads, {} repetitions",
        args.users, args.permutations, args.repeat
    );
    let report = |name: &str, f: &dyn Fn() -> f64| {
        let mut times = Vec::new();
        let mut value = 0.0;
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            value = f();
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<28} min {:>9.4} s  median {:>9.4} s  (p = {value:.4e})",
            times[0],
            times[times.len() / 2]
        );
    };
    report("paired_t", &|| paired_t(&d).map_or(f64::NAN, |r| r.p_value));
    report("wilcoxon", &|| wilcoxon(&d).map_or(f64::NAN, |r| r.p_value));
    report("permutation", &|| {
        permutation(&d, args.permutations, 7).unwrap_or(f64::NAN)
    });
    report("bootstrap (CI low)", &|| {
        bootstrap_ci(&d, args.permutations, 7, 0.95).map_or(f64::NAN, |r| r.0)
    });
    Ok(())
}
