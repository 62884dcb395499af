//! Command-line front end: one function per subcommand (their argument
//! types in args.rs) and the mapping from errors to exit codes.

/// `println!` that hands a failed write back (`?`) instead of panicking: a
/// closed pipe (`recsweep report --json | head`) ends the command quietly
/// with exit 0, as command-line tools do; other failures are errors.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(crate::cli::stdout_error)?
    }};
}

/// `print!` counterpart of [`outln`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*).map_err(crate::cli::stdout_error)?
    }};
}

/// A failed write to standard output, said as such (a full disk reads
/// "cannot write to standard output: No space left on device").
fn stdout_error(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("cannot write to standard output")
}

mod args;
mod bench;
mod list;
mod progress;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};

use args::{
    CheckArgs, Cli, Command, CompareArgs, EvaluateArgs, ExportCommand, IndexArgs, InitArgs,
    MlflowArgs, PlanArgs, ReportArgs, RunArgs, ShardArg, SplitArgs, ValidateArgs,
};
use recsweep::check;
use recsweep::eval::{Family, MetricKind, MetricSet, Need};
use recsweep::export;
use recsweep::external;
use recsweep::per_user_file::{self, PerUserFileError};
use recsweep::plan::load_spec;
use recsweep::report;
use recsweep::runner::{self, Experiment, RunError, RunOptions};
use recsweep::spec::SpecError;
use recsweep::stats::{self, CompareOptions};
use recsweep::store::{write_atomic, ResultsDir, StoreError};

/// Bad input found by the CLI itself (flags, file contents): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InputError(pub(crate) String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Init(args) => init(args),
        Command::Validate(args) => validate(args),
        Command::Split(args) => export_split(args),
        Command::Report(args) => rebuild_report(args),
        Command::Index(args) => index(args),
        Command::Export(ExportCommand::Mlflow(args)) => export_mlflow(args),
        Command::Plan(args) => plan(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Compare(args) => compare(args),
        Command::Check(args) => check(args),
        Command::List(args) => list::run(args).map(|()| ExitCode::SUCCESS),
        Command::Schema => print_schema(),
        Command::Completions { shell } => completions(shell),
        Command::Bench(b) => bench::run(b).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            print_error(&error);
            if is_input_error(&error) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let spec = load_spec(&args.spec.spec, &args.spec.overrides)?;
    eprintln!("loading {} data", spec.dataset.source.as_str());
    let experiment = Experiment::prepare(spec)?;
    let phases: Vec<String> = experiment
        .phases
        .iter()
        .map(|(name, seconds)| format!("{name} {seconds:.1} s"))
        .collect();
    eprintln!(
        "{} users, {} items, {} interactions; {} trials ({})",
        experiment.dataset.users,
        experiment.dataset.items,
        experiment.dataset.interactions,
        experiment.expansion.trials.len(),
        phases.join(", ")
    );
    if let Some(test) = &experiment.randomised {
        let (shown, took) = test.users();
        let dropped = match test.dropped {
            0 => String::new(),
            n => format!("; {n} rows left out (a user or item the log lacks, or a repeated pair)"),
        };
        eprintln!(
            "randomised test: {} items shown to {shown} users, {took} of whom took one ({} positives){dropped}",
            test.shown.nnz(),
            test.positives.nnz()
        );
    }
    if let Some(fit) = &experiment.propensity_fit {
        eprintln!("propensities: {}", fit.describe());
    }
    let trials_started = std::time::Instant::now();
    let results = runner::results_dir(&args.results, &experiment.spec);
    let shard = match args.shard {
        Some(ShardArg::Fixed(shard)) => Some(shard),
        Some(ShardArg::Auto) => Some(
            recsweep::scale::shard_from_env(&|k| std::env::var(k).ok(), args.shards)
                .map_err(|e| InputError(e.to_string()))?,
        ),
        None => None,
    };
    if let Some(s) = shard {
        eprintln!("shard {}/{}", s.index, s.count);
    }
    let options = RunOptions {
        jobs: args.jobs.map(|j| j as usize),
        fresh: args.fresh,
        shard,
    };
    let bar = progress::TrialProgress::new(args.quiet);
    let summary = runner::run(&experiment, &results, &options, &|p| bar.update(p))?;
    bar.finish();
    let elsewhere = if summary.elsewhere > 0 {
        format!(", {} run by another worker", summary.elsewhere)
    } else {
        String::new()
    };
    eprintln!(
        "{} trials run, {} already done{elsewhere}; results in {} (trials {:.1} s)",
        summary.ran,
        summary.skipped,
        results.root().display(),
        trials_started.elapsed().as_secs_f64()
    );
    for warning in &experiment.expansion.warnings {
        eprintln!("warning: {warning}");
    }
    if summary.refit_waiting > 0 {
        eprintln!(
            "note: selection.refit waits for {} trial(s) of the sweep not yet stored (other shards or workers); the run that finishes them refits",
            summary.refit_waiting
        );
    }
    let path = experiment.spec.report.path.clone().unwrap_or_default();
    let report_started = std::time::Instant::now();
    report::write(&results, &path)?;
    outln!(
        "report: {} ({:.1} s)",
        path.display(),
        report_started.elapsed().as_secs_f64()
    );
    if summary.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for (id, error) in &summary.failed {
            eprintln!("error: trial {id} failed: {error}");
        }
        eprintln!(
            "{} trial(s) failed; the report lists them. Rerun to retry them.",
            summary.failed.len()
        );
        Ok(ExitCode::from(1))
    }
}

fn init(args: InitArgs) -> Result<ExitCode> {
    let detected = recsweep::init::detect(&args.data).map_err(|e| InputError(e.to_string()))?;
    let spec = recsweep::init::starter_spec(&args.data, &detected);
    match &args.out {
        Some(path) => {
            if path.exists() && !args.force {
                bail!(InputError(format!(
                    "{} exists; pass --force to overwrite it",
                    path.display()
                )));
            }
            write_atomic(path, spec.as_bytes())?;
            // The schema the spec's first line names, for the editor.
            let schema = path
                .parent()
                .unwrap_or(Path::new(""))
                .join(recsweep::spec::schema::FILE_NAME);
            write_atomic(&schema, recsweep::spec::schema::text().as_bytes())?;
            for note in &detected.notes {
                eprintln!("note: {note}");
            }
            outln!(
                "wrote {} (and {}, its schema for editors); next: recsweep validate {}",
                path.display(),
                schema.display(),
                path.display()
            );
        }
        None => out!("{spec}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(args: PlanArgs) -> Result<ExitCode> {
    if args.shards == 0 {
        bail!(InputError("--shards must be at least 1".into()));
    }
    let spec = load_spec(&args.spec.spec, &args.spec.overrides)?;
    let workdir = std::env::current_dir().context("cannot read the current folder")?;
    let overrides: Vec<String> = args.spec.overrides.iter().map(|o| o.text.clone()).collect();
    let input = recsweep::scale::PlanInput {
        spec: &args.spec.spec,
        name: &spec.name,
        results: &args.results,
        workdir: &workdir,
        overrides: &overrides,
        shards: args.shards,
        trials: spec.expansion().trials.len(),
    };
    // An adaptive sweep's shards share every round through claims, so none
    // is left without work however few the first round's trials are.
    let adaptive = spec.sweep.tpe.is_some() || spec.sweep.fidelity.is_some();
    if args.shards > input.trials && !adaptive {
        eprintln!(
            "warning: {} shards for {} trials: {} shards will have nothing to run",
            args.shards,
            input.trials,
            args.shards - input.trials
        );
    }
    let text = if args.slurm {
        recsweep::scale::slurm_script(&input)
    } else {
        recsweep::scale::kubernetes_manifest(&input)
    };
    outln!("{}", text.map_err(|e| InputError(e.to_string()))?);
    Ok(ExitCode::SUCCESS)
}

fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let spec = load_spec(&args.spec.spec, &args.spec.overrides)?;
    // The verdict comes once the data has been read and split too: a data
    // error after "valid" on stdout would contradict it.
    let experiment = Experiment::prepare(spec)?;
    // Stored results only add warnings: one that cannot be read is said so,
    // and never turns a valid spec into an error after "valid".
    let results = runner::results_dir(&args.results, &experiment.spec);
    let edges =
        recsweep::results::stored_edges(&results, &experiment.context).unwrap_or_else(|e| {
            eprintln!("warning: the stored results could not be read for edge warnings: {e}");
            Vec::new()
        });
    outln!("{}: valid", args.spec.spec.display());
    for warning in &experiment.expansion.warnings {
        eprintln!("warning: {warning}");
    }
    for edge in edges {
        eprintln!(
            "warning: {edge} was selected on the edge of what was tried (results in {}); the optimum may lie beyond: extend the grid past it",
            results.root().display()
        );
    }
    terminal::print_validation(&experiment)?;
    Ok(ExitCode::SUCCESS)
}

fn export_split(args: SplitArgs) -> Result<ExitCode> {
    let spec = load_spec(&args.spec.spec, &args.spec.overrides)?;
    let experiment = Experiment::prepare(spec)?;
    let labels = &experiment.labels;
    // Under `selection.folds`, one folder per fold (the same test in each),
    // so each replicate's parts can be scored apart.
    let folds = experiment.spec.selection.folds;
    let mut first = None;
    for f in 0..folds.unwrap_or(1) {
        let (split, _) = experiment.fold(folds.map(|_| f));
        let out = match folds {
            Some(_) => args.out.join(format!("fold{f}")),
            None => args.out.clone(),
        };
        let parts = [
            ("train.tsv", Some(&split.train)),
            ("validation.tsv", split.validation.as_ref()),
            ("test.tsv", Some(&split.test)),
        ];
        for (name, part) in parts {
            let Some(matrix) = part else { continue };
            let mut text = String::from("user\titem\n");
            for (u, i) in matrix.pairs() {
                text.push_str(&labels.users[u as usize]);
                text.push('\t');
                text.push_str(&labels.items[i as usize]);
                text.push('\n');
            }
            let path = out.join(name);
            write_atomic(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            outln!("{}: {} interactions", path.display(), matrix.nnz());
        }
        first.get_or_insert((out, split.validation.is_some()));
    }
    let Some((out, has_validation)) = first else {
        return Ok(ExitCode::SUCCESS);
    };
    let out = out.display();
    let validation = if has_validation {
        format!(" --validation {out}/validation.tsv")
    } else {
        String::new()
    };
    outln!(
        "score a model trained on these with: recsweep evaluate --recs RUN --truth {out}/test.tsv --train {out}/train.tsv{validation}\n\
         (train{} items are removed from each user's list, as recsweep's own models never recommend them; --keep-seen keeps them)",
        if validation.is_empty() { "" } else { " and validation" }
    );
    if folds.is_some() {
        outln!("(one folder per validation fold; replicate r of a configuration trained on fold r mod k's train.tsv)");
    }
    Ok(ExitCode::SUCCESS)
}

fn rebuild_report(args: ReportArgs) -> Result<ExitCode> {
    let results = ResultsDir::new(&args.results);
    if !args.results.is_dir() {
        bail!(StoreError::NotResults { path: args.results });
    }
    if args.json {
        let built = report::build(&results)?;
        outln!(
            "{}",
            serde_json::to_string_pretty(&built).expect("reports serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let record = results.read_experiment()?;
    let path = args
        .output
        .or(record.spec.report.path)
        .unwrap_or_else(|| PathBuf::from(format!("reports/{}.md", record.spec.name)));
    report::write(&results, &path)?;
    outln!("report: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn print_schema() -> Result<ExitCode> {
    out!("{}", recsweep::spec::schema::text());
    Ok(ExitCode::SUCCESS)
}

fn export_mlflow(args: MlflowArgs) -> Result<ExitCode> {
    if !args.results.is_dir() {
        bail!(StoreError::NotResults { path: args.results });
    }
    let nonempty = |v: String| Some(v).filter(|v| !v.is_empty());
    let Some(tracking_uri) = args
        .tracking_uri
        .or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok().and_then(nonempty))
    else {
        bail!(InputError(
            "no tracking server: pass --tracking-uri http://HOST:PORT or set MLFLOW_TRACKING_URI"
                .into()
        ));
    };
    let options = export::MlflowOptions {
        tracking_uri,
        experiment: args.experiment,
        token: std::env::var("MLFLOW_TRACKING_TOKEN")
            .ok()
            .and_then(nonempty),
    };
    let done = export::mlflow(&ResultsDir::new(&args.results), &options)
        .with_context(|| format!("exporting {} to MLflow", args.results.display()))?;
    outln!(
        "mlflow: experiment `{}` (id {}) at {}, parent run {}",
        done.experiment,
        done.experiment_id,
        options.tracking_uri,
        done.parent_run
    );
    outln!(
        "  {} trial runs created, {} already there; {} artifacts uploaded",
        done.created,
        done.present,
        done.artifacts
    );
    if done.replaced > 0 {
        outln!(
            "  {} half-written runs of an interrupted export replaced",
            done.replaced
        );
    }
    if done.missing > 0 {
        outln!(
            "  {} trials have no result yet: export again when they finish",
            done.missing
        );
    }
    if let Some(uri) = done.artifacts_elsewhere {
        outln!("  report not uploaded: this server does not proxy artifact uploads (the run's artifacts go to {uri}); start `mlflow server` with artifact serving, its default since MLflow 2.0");
    }
    Ok(ExitCode::SUCCESS)
}

fn index(args: IndexArgs) -> Result<ExitCode> {
    let mut folders = Vec::new();
    for path in &args.results {
        // A folder with experiment.yaml is a results folder (a corrupt
        // record then fails in report::build, naming the file).
        if path.join("experiment.yaml").is_file() {
            folders.push(path.clone());
            continue;
        }
        if !path.is_dir() {
            bail!(StoreError::NotResults { path: path.clone() });
        }
        let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("experiment.yaml").is_file())
            .collect();
        if inside.is_empty() {
            bail!(StoreError::NotResults { path: path.clone() });
        }
        inside.sort();
        folders.extend(inside);
    }
    let mut entries = Vec::new();
    for folder in folders {
        let built = report::build(&ResultsDir::new(&folder))
            .with_context(|| format!("building the report of {}", folder.display()))?;
        let link = built.file.clone();
        entries.push(report::index::Entry {
            report: built,
            link,
        });
    }
    entries.sort_by(|a, b| a.link.cmp(&b.link));
    write_atomic(&args.output, report::index::render(&entries).as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    outln!(
        "index of {} reports: {}",
        entries.len(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: EvaluateArgs) -> Result<ExitCode> {
    let (set, propensity) = evaluate_metrics(&args)?;
    let mut vocabulary = external::Vocabulary::default();
    let run = external::read_run(&args.recs, &mut vocabulary)?;
    let truth = external::read_judgements(&args.truth, &mut vocabulary)?;
    let train = match &args.train {
        Some(path) => Some(external::read_judgements(path, &mut vocabulary)?),
        None => None,
    };
    let validation = match &args.validation {
        Some(path) => external::read_judgements(path, &mut vocabulary)?,
        None => Vec::new(),
    };
    let seen: Option<Vec<external::Judgement>> = (!args.keep_seen
        && (train.is_some() || args.validation.is_some()))
    .then(|| train.iter().flatten().chain(&validation).copied().collect());
    let outcome = external::evaluate(
        &run,
        &truth,
        train.as_deref(),
        seen.as_deref(),
        &vocabulary,
        &set,
        &external::EvaluateOptions {
            head_share: args.head_share,
            propensity,
            precision: if args.exact_scores {
                external::ScorePrecision::Exact
            } else {
                external::ScorePrecision::Float32
            },
        },
    )
    .map_err(|e| match e {
        external::EvaluateError::NoTruth => InputError(format!("{}: {e}", args.truth.display())),
        e => InputError(e.to_string()),
    })?;
    warn_about_inputs(&args, &outcome.notes);
    if let Some(path) = &args.per_user {
        per_user_file::write_tsv(path, &outcome.per_user)?;
    }
    let users = outcome.per_user.users.len();
    if args.json {
        let metrics: serde_json::Map<String, serde_json::Value> = outcome
            .summary
            .iter()
            .map(|(m, s)| (m.to_string(), serde_json::Value::from(s.mean)))
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "users": users, "metrics": metrics })
        );
    } else {
        terminal::print_evaluation(users, &outcome.summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The metrics and propensities `evaluate`'s flags ask for, each flag
/// checked: cutoffs, head share, metrics that need what only `run` has.
fn evaluate_metrics(
    args: &EvaluateArgs,
) -> Result<(MetricSet, Option<recsweep::eval::PropensitySpec>)> {
    if args.k.is_empty() || args.k.contains(&0) {
        bail!(InputError("--k takes cutoffs ≥ 1, e.g. --k 10,20".into()));
    }
    if let Err(message) = recsweep::eval::check_head_share(args.head_share) {
        bail!(InputError(format!("--head-share {message}")));
    }
    let propensity = args.propensity_exponent.map(|exponent| {
        recsweep::eval::PropensitySpec::from_exponent(exponent, args.propensity_clip)
    });
    if let Some(p) = &propensity {
        if let Some((key, message)) = p.issues().into_iter().next() {
            bail!(InputError(format!("--propensity-{key} {message}")));
        }
    }
    for m in &args.metrics {
        let fix = match m.needs() {
            Some(Need::Pipeline | Need::TruePreferences | Need::Scores) => "use `recsweep run`",
            Some(Need::Propensities) if propensity.is_none() => {
                "give --propensity-exponent E (and --train, whose popularity they come from)"
            }
            _ => continue,
        };
        let why = m.needs().map_or("", Need::why);
        bail!(InputError(format!(
            "--metrics {}: {why}; {fix}",
            m.as_str()
        )));
    }
    let metrics = if args.metrics.is_empty() {
        MetricKind::DEFAULT
            .iter()
            .copied()
            .filter(|m| args.train.is_some() || m.family() == Family::Accuracy)
            .collect()
    } else {
        args.metrics.clone()
    };
    let mut cutoffs = args.k.clone();
    cutoffs.dedup();
    let set = MetricSet { cutoffs, metrics };
    Ok((set, propensity))
}

/// What `evaluate` did to its inputs that the user should know.
fn warn_about_inputs(args: &EvaluateArgs, notes: &external::Notes) {
    if notes.duplicates > 0 {
        eprintln!(
            "warning: {} repeated (user, item) rows in {}; the first of each was kept",
            notes.duplicates,
            args.recs.display()
        );
    }
    if notes.run_users_ignored > 0 {
        eprintln!(
            "warning: {} users of {} have no relevant item in {}; ignored",
            notes.run_users_ignored,
            args.recs.display(),
            args.truth.display()
        );
    }
    if notes.users_without_recommendations > 0 {
        eprintln!(
            "warning: {} users of {} have no recommendations; they count with zeros",
            notes.users_without_recommendations,
            args.truth.display()
        );
    }
    if notes.seen_removed > 0 {
        eprintln!(
            "note: removed {} recommendations of {} users that name items of their own train{} interactions, as recsweep's models never recommend them (--keep-seen scores the lists as given)",
            notes.seen_removed,
            notes.seen_users,
            if args.validation.is_some() { " or validation" } else { "" }
        );
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    if !args.results.is_dir() {
        bail!(StoreError::NotResults { path: args.results });
    }
    let results = ResultsDir::new(&args.results);
    if let Some(path) = &args.write_baseline {
        let baseline = check::baseline(&results)?;
        let json = serde_json::to_string(&baseline).expect("baselines serialize");
        write_atomic(path, format!("{json}\n").as_bytes())?;
        outln!(
            "baseline written to {}: {} tracked metrics",
            path.display(),
            baseline.entries.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = args
        .baseline
        .as_ref()
        .expect("clap requires --baseline or --write-baseline");
    let baseline = check::read_baseline(path)?;
    let mut settings = results.read_experiment()?.spec.check;
    if let Some(alpha) = args.alpha {
        if !(alpha > 0.0 && alpha < 1.0) {
            bail!(InputError(format!(
                "--alpha {alpha} is out of range; must be in (0, 1)"
            )));
        }
        settings.alpha = alpha;
    }
    if let Some(test) = args.test {
        settings.test = test;
    }
    for (value, slot) in [
        (args.tolerance_absolute, &mut settings.tolerance.absolute),
        (args.tolerance_relative, &mut settings.tolerance.relative),
    ] {
        if let Some(v) = value {
            if !(v >= 0.0 && v.is_finite()) {
                bail!(InputError(format!(
                    "tolerances must be finite and ≥ 0, got {v}"
                )));
            }
            *slot = v;
        }
    }
    let rows = check::check(&results, &baseline, &settings)?;
    let text = check::render(&rows, &settings);
    out!("{text}");
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| {
                format!(
                    "appending to GITHUB_STEP_SUMMARY {}",
                    Path::new(&summary).display()
                )
            })?;
        file.write_all(text.as_bytes())?;
    }
    if rows.iter().any(|r| r.verdict.fails()) {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn compare(args: CompareArgs) -> Result<ExitCode> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!(InputError(format!(
            "--alpha {} is out of range; must be in (0, 1)",
            args.alpha
        )));
    }
    if args.permutations == 0 || args.resamples == 0 {
        bail!(InputError(
            "--permutations and --resamples must be at least 1".into()
        ));
    }
    let results = args.results.as_ref().map(ResultsDir::new);
    let (a, label_a, seeds_a) = compare_side(&args.a, results.as_ref())?;
    let (b, label_b, seeds_b) = compare_side(&args.b, results.as_ref())?;
    // Says what each side is: in the JSON's place on standard error.
    let describe = |side: &str, label: &str| format!("{side}: {label}");
    for line in [describe("A", &label_a), describe("B", &label_b)] {
        if args.json {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    }
    let (va, vb) = (
        a.finite_column(&args.metric, &args.a)?,
        b.finite_column(&args.metric, &args.b)?,
    );
    let (ia, ib) = per_user_file::align(&a, &b, args.intersect).map_err(InputError)?;
    let xa: Vec<f64> = ia.iter().map(|&i| va[i]).collect();
    let xb: Vec<f64> = ib.iter().map(|&i| vb[i]).collect();
    let options = CompareOptions {
        permutations: args.permutations,
        resamples: args.resamples,
        confidence: stats::DEFAULT_CONFIDENCE,
        seed: args.seed,
    };
    let mut result =
        stats::compare(&args.metric, &xa, &xb, &options).map_err(|e| InputError(e.to_string()))?;
    // A model's seeds, aligned as its averaged column; a file is one run.
    let seed_columns = |seeds: &[per_user_file::PerUserTable],
                        index: &[usize],
                        one: &[f64],
                        arg: &Path|
     -> Result<Vec<Vec<f64>>> {
        if seeds.len() < 2 {
            return Ok(vec![one.to_vec()]);
        }
        seeds
            .iter()
            .map(|t| {
                let v = t.finite_column(&args.metric, arg)?;
                Ok(index.iter().map(|&i| v[i]).collect())
            })
            .collect()
    };
    if seeds_a.len() > 1 || seeds_b.len() > 1 {
        result.users_and_seeds = stats::OverSeeds::of(
            &seed_columns(&seeds_a, &ia, &xa, &args.a)?,
            &seed_columns(&seeds_b, &ib, &xb, &args.b)?,
            stats::DEFAULT_CONFIDENCE,
        );
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&result).expect("comparisons serialize")
        );
    } else {
        terminal::print_comparison(&result, args.test, args.alpha)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One side of `compare`: a model of the results folder where one is given
/// and the argument names one (or names no file), else a per-user file; with
/// what it is, for the output.
fn compare_side(
    arg: &Path,
    results: Option<&ResultsDir>,
) -> Result<(
    per_user_file::PerUserTable,
    String,
    Vec<per_user_file::PerUserTable>,
)> {
    if let Some(results) = results {
        let name = arg.to_str().unwrap_or_default();
        let is_model = results
            .read_experiment()
            .is_ok_and(|r| recsweep::results::model_names(&r).iter().any(|m| m == name));
        if is_model || !arg.exists() {
            let m = recsweep::results::selected_model(results, name)?;
            let label = format!(
                "{} in {} (selected configuration {}, {} seed{} averaged per user)",
                m.model,
                results.root().display(),
                m.configuration,
                m.seeds,
                if m.seeds == 1 { "" } else { "s" }
            );
            return Ok((m.table, label, m.per_seed));
        }
    }
    Ok((
        per_user_file::read(arg)?,
        arg.display().to_string(),
        Vec::new(),
    ))
}

fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "recsweep", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}

fn print_error(error: &anyhow::Error) {
    if let Some(SpecError::Invalid { .. }) = error.downcast_ref::<SpecError>() {
        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[..lines.len() - 1] {
            eprintln!("error: {line}");
        }
        eprintln!("{}", lines[lines.len() - 1]);
        return;
    }
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Standard output was closed by its reader (`| head`): not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Bad input (spec, data, flags, results folder, output path) exits 2;
/// anything else 1.
fn is_input_error(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.is::<SpecError>()
            || e.is::<InputError>()
            || e.is::<PerUserFileError>()
            || e.is::<external::FormatError>()
            || e.downcast_ref::<check::CheckError>()
                .is_some_and(|c| match c {
                    check::CheckError::Store(s) => s.is_input(),
                    _ => true,
                })
            || e.downcast_ref::<RunError>().is_some_and(|r| match r {
                RunError::Data(_)
                | RunError::Split(_)
                | RunError::Truth { .. }
                | RunError::Propensity { .. }
                | RunError::BeyondCatalogue { .. }
                | RunError::Proposal { .. } => true,
                RunError::Store(s) => s.is_input(),
                RunError::Threads { .. } => false,
            })
            || e.downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_input)
            || e.downcast_ref::<export::ExportError>()
                .is_some_and(export::ExportError::is_input)
            || e.downcast_ref::<recsweep::results::SelectedModelError>()
                .is_some_and(|m| match m {
                    recsweep::results::SelectedModelError::Store(s) => s.is_input(),
                    _ => true,
                })
    })
}
