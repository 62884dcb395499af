//! The command line's arguments: one type per subcommand, as clap reads
//! them (their doc comments are the `--help` text).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use recsweep::eval::MetricKind;
use recsweep::runner::Shard;
use recsweep::spec::Override;
use recsweep::stats::{self, TestKind};

use super::{bench, list};

#[derive(Parser)]
#[command(
    name = "recsweep",
    version,
    about = "Offline evaluation of recommender models: sweep knobs, rank fully, report accuracy and bias"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Train and evaluate every trial of a spec, store the results, write the report
    Run(RunArgs),
    /// Write a commented starter spec for a log (CSV/TSV/Parquet or MovieLens), its columns told apart
    Init(InitArgs),
    /// Check a spec without training: errors, dataset statistics, the expanded trials
    /// (and, once a run stored results, selected values on the edge of their grid)
    Validate(ValidateArgs),
    /// Write a spec's split (train, validation, test) as TSV files, so other systems
    /// can train and be scored (`recsweep evaluate`) on exactly the same data
    Split(SplitArgs),
    /// Rebuild the markdown report from a results folder
    Report(ReportArgs),
    /// Build the reports index (reports/README.md): the project's question answered from every experiment that compares two-tower with NCF, and one line per report
    Index(IndexArgs),
    /// Print the job definitions that run a sweep as a Slurm job array or a Kubernetes Indexed Job
    Plan(PlanArgs),
    /// Export a results folder to an experiment tracker
    #[command(subcommand)]
    Export(ExportCommand),
    /// Score recommendations from any system against held-out interactions
    Evaluate(EvaluateArgs),
    /// Paired significance tests between two per-user metric files (A − B)
    Compare(CompareArgs),
    /// CI gate: fail when a tracked metric dropped significantly and beyond tolerance
    Check(CheckArgs),
    /// List models, metrics, knobs or popularity methods with their params, defaults and rules
    List(list::ListArgs),
    /// Print the spec's JSON Schema, for editors' checking and completion (docs/spec.md, "Editor support")
    Schema,
    /// Print a shell completion script: `recsweep completions bash > ~/.local/share/bash-completion/completions/recsweep`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Time hot paths on synthetic inputs (figures for docs/benchmarks.md)
    #[command(subcommand)]
    Bench(bench::Bench),
}

#[derive(Subcommand)]
pub(super) enum ExportCommand {
    /// Every stored trial as an MLflow run, nested under one run per experiment that holds the report (docs/mlflow.md)
    Mlflow(MlflowArgs),
}

#[derive(Args)]
pub(super) struct MlflowArgs {
    /// A results folder (results/<name>)
    pub(super) results: PathBuf,
    /// The tracking server's address, e.g. http://127.0.0.1:5000 (default: MLFLOW_TRACKING_URI)
    #[arg(long)]
    pub(super) tracking_uri: Option<String>,
    /// The MLflow experiment (default: the spec's name); created when missing
    #[arg(long)]
    pub(super) experiment: Option<String>,
}

#[derive(Args)]
pub(super) struct EvaluateArgs {
    /// Recommendations: TREC run (user Q0 item rank score tag), or CSV/TSV/Parquet with user, item and score or rank
    #[arg(long)]
    pub(super) recs: PathBuf,
    /// Held-out interactions: TREC qrels (user 0 item relevance), or CSV/TSV/Parquet with user, item [, relevance]
    #[arg(long)]
    pub(super) truth: PathBuf,
    /// Train interactions (same formats): enables coverage, gini, arp, aplt and novelty, and removes each user's train items from their list
    #[arg(long)]
    pub(super) train: Option<PathBuf>,
    /// Validation interactions (same formats): also removed from each user's list, as recsweep does when scoring test
    #[arg(long)]
    pub(super) validation: Option<PathBuf>,
    /// Score the lists as given, train and validation items included
    #[arg(long)]
    pub(super) keep_seen: bool,
    /// Cutoffs
    #[arg(long, value_delimiter = ',', default_values_t = recsweep::eval::DEFAULT_CUTOFFS)]
    pub(super) k: Vec<usize>,
    /// Metrics (default: every accuracy metric, plus coverage, arp, aplt, gini and novelty with --train)
    #[arg(long, value_delimiter = ',')]
    pub(super) metrics: Vec<MetricKind>,
    /// Share of train interactions held by head items (the long-tail rule of aplt)
    #[arg(long, default_value_t = recsweep::eval::DEFAULT_HEAD_SHARE)]
    pub(super) head_share: f64,
    /// Propensity exponent e of p_i ∝ n_i^e (train popularity) for the
    /// ips_/snips_ metrics (docs/metrics.md, "Debiased accuracy"); needs --train
    #[arg(long, value_name = "E")]
    pub(super) propensity_exponent: Option<f64>,
    /// Largest weight 1/p_i of the debiased metrics
    #[arg(long, value_name = "C", requires = "propensity_exponent")]
    pub(super) propensity_clip: Option<f64>,
    /// Order by the full f64 scores; by default scores are compared as 32-bit
    /// floats, as trec_eval stores them, so scores equal in float are ties
    #[arg(long)]
    pub(super) exact_scores: bool,
    /// Write per-user values as TSV (header `user` then one column per metric@K)
    #[arg(long, value_name = "FILE")]
    pub(super) per_user: Option<PathBuf>,
    /// Print {"users": N, "metrics": {...}} instead of a table
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct CompareArgs {
    /// Per-user metrics of A: a TSV from `evaluate --per-user`, a per_user.parquet, a trial folder, or with --results a model name
    pub(super) a: PathBuf,
    /// Per-user metrics of B, same forms
    pub(super) b: PathBuf,
    /// A results folder: A or B may then name one of its models (its selected configuration, seeds averaged, as the report compares it)
    #[arg(long)]
    pub(super) results: Option<PathBuf>,
    /// The metric column to compare
    #[arg(long, default_value = "ndcg@10")]
    pub(super) metric: String,
    /// The test that decides the verdict (all are reported)
    #[arg(long, default_value = "paired_t")]
    pub(super) test: TestKind,
    /// Significance level of the verdict
    #[arg(long, default_value_t = stats::DEFAULT_ALPHA)]
    pub(super) alpha: f64,
    /// Sign flips of the permutation test
    #[arg(long, default_value_t = stats::DEFAULT_PERMUTATIONS)]
    pub(super) permutations: usize,
    /// Resamples of the bootstrap interval
    #[arg(long, default_value_t = stats::DEFAULT_RESAMPLES)]
    pub(super) resamples: usize,
    /// Seed of the permutation test and the bootstrap
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Compare only the users present in both files
    #[arg(long)]
    pub(super) intersect: bool,
    /// Print one JSON object (docs/statistics.md) instead of tables
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["baseline", "write_baseline"])))]
pub(super) struct CheckArgs {
    /// A results folder (results/<name>)
    pub(super) results: PathBuf,
    /// The baseline to compare with (written by --write-baseline)
    #[arg(long)]
    pub(super) baseline: Option<PathBuf>,
    /// Write the results' per-user values as a new baseline instead of checking
    #[arg(long, value_name = "FILE")]
    pub(super) write_baseline: Option<PathBuf>,
    /// Override the spec's check.alpha
    #[arg(long)]
    pub(super) alpha: Option<f64>,
    /// Override the spec's check.test
    #[arg(long)]
    pub(super) test: Option<TestKind>,
    /// Override the spec's check.tolerance.absolute
    #[arg(long)]
    pub(super) tolerance_absolute: Option<f64>,
    /// Override the spec's check.tolerance.relative
    #[arg(long)]
    pub(super) tolerance_relative: Option<f64>,
}

#[derive(Args)]
pub(super) struct SpecArgs {
    /// The experiment spec (YAML)
    pub(super) spec: PathBuf,
    /// Override a spec key before validation, e.g. --set dataset.path=data/u.data (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(super) overrides: Vec<Override>,
}

#[derive(Args)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    pub(super) spec: SpecArgs,
    /// Root of the results folders: where this spec's results are stored,
    /// also warn about knobs selected on the edge of what was tried
    #[arg(long, default_value = "results")]
    pub(super) results: PathBuf,
}

#[derive(Args)]
pub(super) struct SplitArgs {
    #[command(flatten)]
    pub(super) spec: SpecArgs,
    /// Folder for train.tsv, validation.tsv (when the split has one) and test.tsv
    #[arg(long)]
    pub(super) out: PathBuf,
}

#[derive(Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pub(super) spec: SpecArgs,
    /// Root of the results folders; this experiment's go to RESULTS/<name>
    #[arg(long, default_value = "results")]
    pub(super) results: PathBuf,
    /// Worker threads, at least 1 (default: one per core); results do not
    /// depend on it
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) jobs: Option<u32>,
    /// Redo trials that are already finished
    #[arg(long)]
    pub(super) fresh: bool,
    /// Run only every N-th trial starting at I (0-based), for job arrays; `auto`
    /// reads it from Slurm (SLURM_ARRAY_TASK_ID) or Kubernetes (JOB_COMPLETION_INDEX)
    #[arg(long, value_name = "I/N|auto")]
    pub(super) shard: Option<ShardArg>,
    /// With --shard auto on Kubernetes: the Indexed Job's completions
    #[arg(long, value_name = "N")]
    pub(super) shards: Option<usize>,
    /// Log one line per trial instead of a progress bar
    #[arg(long, short)]
    pub(super) quiet: bool,
}

#[derive(Args)]
pub(super) struct InitArgs {
    /// The interaction log: CSV/TSV (any of , tab ; |), Parquet, or a MovieLens ratings file
    pub(super) data: PathBuf,
    /// Write the spec here instead of printing it
    #[arg(long, short)]
    pub(super) out: Option<PathBuf>,
    /// Overwrite --out if it exists
    #[arg(long)]
    pub(super) force: bool,
}

/// `--shard I/N`, or `auto` from the engine's environment.
#[derive(Clone, Copy)]
pub(super) enum ShardArg {
    Fixed(Shard),
    Auto,
}

impl std::str::FromStr for ShardArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            Ok(ShardArg::Auto)
        } else {
            s.parse().map(ShardArg::Fixed)
        }
    }
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("engine").required(true).args(["slurm", "kubernetes"])))]
pub(super) struct PlanArgs {
    #[command(flatten)]
    pub(super) spec: SpecArgs,
    /// Print a bash script that submits a Slurm job array and a dependent report job
    #[arg(long)]
    pub(super) slurm: bool,
    /// Print a Kubernetes Indexed Job manifest and its report Job
    #[arg(long)]
    pub(super) kubernetes: bool,
    /// Shards (array tasks or completions), each running every N-th trial
    #[arg(long, value_name = "N")]
    pub(super) shards: usize,
    /// Root of the results folders, on storage every worker sees
    #[arg(long, default_value = "results")]
    pub(super) results: PathBuf,
}

#[derive(Args)]
pub(super) struct ReportArgs {
    /// A results folder (results/<name>)
    pub(super) results: PathBuf,
    /// Where to write the report (default: the spec's report.path)
    #[arg(long, short)]
    pub(super) output: Option<PathBuf>,
    /// Print the report's content as JSON on stdout instead (for other tools)
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct IndexArgs {
    /// Results folders (results/<name>), or folders holding them (results/)
    #[arg(required = true)]
    pub(super) results: Vec<PathBuf>,
    /// Where to write the index; reports are linked by their file name, beside it
    #[arg(long, short, default_value = "reports/README.md")]
    pub(super) output: PathBuf,
}
