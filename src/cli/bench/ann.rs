//! `recsweep bench ann`: recsweep's approximate indexes against the exact
//! batched scan on real vectors, as ann-benchmarks reports them: recall
//! against queries per second on one thread, and build time, per setting.
//! tools/ann_peers.py runs hnswlib and faiss on the vectors `--write` saves.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use recsweep::ann::{Hnsw, HnswParams, Ivf, IvfParams, MipsIndex, MAX_LINKS};
use recsweep::eval::ServingTime;
use recsweep::models::{DotProduct, FitInput, Scorer};
use recsweep::report::figures::{self, Series};
use recsweep::topk::best_k;

use crate::cli::InputError;

#[derive(Args)]
pub struct AnnArgs {
    /// A spec whose train split fits `--model`: its item vectors are
    /// indexed, its user vectors are the queries
    #[arg(long, conflicts_with = "items", required_unless_present = "items")]
    spec: Option<PathBuf>,
    /// Override a spec key, e.g. --set split.train=… (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<recsweep::spec::Override>,
    /// With --spec: a model with user and item vectors
    #[arg(long, default_value = "ials")]
    model: String,
    /// With --spec: its params as inline YAML
    #[arg(long, default_value = "{dim: 64, alpha: 10.0, l2: 10.0}")]
    params: String,
    /// Item vectors: a .fvecs file (the TEXMEX layout ann-benchmarks and
    /// faiss read) or Parquet with columns f0 … f{d-1} (a trial's
    /// item_factors.parquet)
    #[arg(long, requires = "queries")]
    items: Option<PathBuf>,
    /// Query vectors, in either layout
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Queries searched (the first ones)
    #[arg(long, default_value_t = 2000)]
    max_queries: usize,
    /// Items returned per query
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// HNSW links per node and layer
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// HNSW candidate lists searched, one row each
    #[arg(long, value_delimiter = ',', default_value = "100,200,400")]
    ef: Vec<usize>,
    /// IVF lists (0: no IVF rows)
    #[arg(long, default_value_t = 256)]
    lists: usize,
    /// IVF lists probed, one row each
    #[arg(long, value_delimiter = ',', default_value = "4,16,64")]
    probes: Vec<usize>,
    /// Timed passes over the queries per row: median and range reported
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Seed of the index builds (and of the fit)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the vectors as items.fvecs and queries.fvecs into this folder
    #[arg(long)]
    write: Option<PathBuf>,
    /// Rows printed by a peer on the same vectors (tools/ann_peers.py's
    /// output), drawn beside recsweep's in --svg
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Draw recall against queries/s, one line per index, as an SVG here
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// Row-major vectors of one width.
struct Vectors {
    dim: usize,
    values: Vec<f32>,
}

impl Vectors {
    fn len(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

pub fn run(args: AnnArgs) -> Result<()> {
    let (items, mut queries, source) = vectors(&args)?;
    if items.dim != queries.dim {
        return Err(InputError(format!(
            "item vectors have {} dimensions, queries {}",
            items.dim, queries.dim
        ))
        .into());
    }
    queries
        .values
        .truncate(args.max_queries.min(queries.len()) * queries.dim);
    if items.len() == 0 || queries.len() == 0 {
        return Err(InputError(format!(
            "{source}: {} item and {} query vectors; both need at least one",
            items.len(),
            queries.len()
        ))
        .into());
    }
    if let Some(folder) = &args.write {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        write_fvecs(&folder.join("items.fvecs"), &items)?;
        write_fvecs(&folder.join("queries.fvecs"), &queries)?;
    }
    let n = args.n.min(items.len());
    outln!(
        "{source}: {} items, {} queries, dim {}, top {n}, one thread, {} passes per row (median, range)",
        items.len(),
        queries.len(),
        items.dim,
        args.repeat.max(1)
    );
    let (nth, exact_time) = exact(&items, &queries, n, args.repeat);
    // (index, recall, median queries/s) per row, for --svg.
    let mut points = vec![("exact scan".to_string(), 1.0, exact_time.per_second())];
    let work = Workload {
        queries: &queries,
        nth: &nth,
        n,
        repeat: args.repeat,
    };
    outln!("| index | setting | recall@{n} | queries/s (range) | build (s) | overhead (MB) |");
    outln!("|---|---|---|---|---|---|");
    outln!(
        "| exact | batched scan (GEMM + top-n) | 1.000 | {} | – | – |",
        exact_time.describe_rate()
    );
    if !(1..=MAX_LINKS).contains(&args.m) {
        return Err(InputError(format!(
            "--m {}: links per node must be 1 to {MAX_LINKS}",
            args.m
        ))
        .into());
    }
    let params = HnswParams {
        m: args.m,
        ef_construction: args.ef_construction,
        // Each search is given its ef below; the graph never reads this.
        ..HnswParams::default()
    };
    let start = Instant::now();
    let hnsw = Hnsw::build(items.dim, &items.values, params, args.seed);
    let build = start.elapsed().as_secs_f64();
    let name = format!(
        "HNSW m {}, ef_construction {}",
        args.m, args.ef_construction
    );
    for &ef in &args.ef {
        let (recall, rate) = work.row(&name, &format!("ef {ef}"), &hnsw, ef, build)?;
        points.push((name.clone(), recall, rate));
    }
    if args.lists > 0 {
        let start = Instant::now();
        let lists = IvfParams {
            lists: args.lists,
            // Each search is given its probes below.
            ..IvfParams::default()
        };
        let ivf = Ivf::build(items.dim, &items.values, lists, args.seed)
            .map_err(|e| anyhow::anyhow!("IVF: {e}"))?;
        let build = start.elapsed().as_secs_f64();
        let name = format!("IVF {} lists", args.lists);
        for &probes in &args.probes {
            let (recall, rate) =
                work.row(&name, &format!("probes {probes}"), &ivf, probes, build)?;
            points.push((name.clone(), recall, rate));
        }
    }
    if let Some(path) = &args.svg {
        if let Some(peer) = &args.peer {
            points.extend(peer_rows(peer)?);
        }
        draw(path, &points, n)?;
    }
    Ok(())
}

/// (index, recall, queries/s) from each table row of a peer's output whose
/// recall and rate columns are numbers (tools/ann_peers.py prints its rows
/// in the layout of this command's).
fn peer_rows(path: &Path) -> Result<Vec<(String, f64, f64)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    let rows: Vec<(String, f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // The rate cell's median, before any range.
            let rate = cells.get(4)?.split_whitespace().next()?.parse().ok()?;
            let recall = cells.get(3)?.parse().ok()?;
            let name = cells.get(1)?;
            Some((name.to_string(), recall, rate))
        })
        .collect();
    if rows.is_empty() {
        return Err(InputError(format!(
            "{}: no rows `| index | setting | recall | queries/s | …`",
            path.display()
        ))
        .into());
    }
    Ok(rows)
}

/// Recall against log10 queries/s, one line per index, in the order rows
/// came.
fn draw(path: &Path, points: &[(String, f64, f64)], n: usize) -> Result<()> {
    let mut series: Vec<Series> = Vec::new();
    for (name, recall, rate) in points {
        let point = (*recall, rate.max(1e-3).log10());
        match series.iter_mut().find(|s| &s.name == name) {
            Some(s) => s.points.push(point),
            None => series.push(Series {
                name: name.clone(),
                points: vec![point],
                band: None,
                style: series.len(),
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let svg = figures::lines(
        "Approximate top-n search: recall against speed (one thread)",
        &format!("recall@{n}"),
        "log10 queries per second",
        &series,
        None,
    )
    .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    recsweep::store::write_atomic(path, svg.as_bytes())?;
    Ok(())
}

/// The vectors to index and to query, and a line naming their source.
fn vectors(args: &AnnArgs) -> Result<(Vectors, Vectors, String)> {
    if let (Some(items), Some(queries)) = (&args.items, &args.queries) {
        let source = format!("{} and {}", items.display(), queries.display());
        return Ok((read_vectors(items)?, read_vectors(queries)?, source));
    }
    let Some(spec_path) = &args.spec else {
        return Err(InputError("give --spec, or --items and --queries".to_string()).into());
    };
    let spec = recsweep::plan::load_spec(spec_path, &args.overrides)?;
    let experiment = recsweep::runner::Experiment::prepare(spec)?;
    let train = &experiment.split.train;
    let scorer = super::configure(&args.model, &args.params)?
        .fit(&FitInput::interactions(
            train,
            &train.column_counts(),
            args.seed,
        ))?
        .scorer;
    let (Some((dim, users)), Some((_, items))) = (scorer.user_factors(), scorer.item_factors())
    else {
        return Err(InputError(format!(
            "--model {} has no user and item vectors to index",
            args.model
        ))
        .into());
    };
    let queries = Vectors {
        dim,
        values: users.to_vec(),
    };
    let source = format!(
        "{} {} fitted on {}'s train split",
        args.model,
        args.params,
        spec_path.display()
    );
    Ok((Vectors { dim, values: items }, queries, source))
}

/// `pass` over `queries` queries timed `repeat` times, as the report times
/// searches: µs per query, median and range.
fn timed(repeat: usize, queries: usize, mut pass: impl FnMut()) -> ServingTime {
    let micros = (0..repeat.max(1))
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed().as_secs_f64() * 1e6 / queries.max(1) as f64
        })
        .collect();
    ServingTime::of(micros, queries)
}

/// Per query, the exact n-th best inner product; and the batched scan's
/// rate: blocks of 256 queries scored by one matrix product on this
/// thread, as the evaluator scores users, then each row's top n.
fn exact(items: &Vectors, queries: &Vectors, n: usize, repeat: usize) -> (Vec<f32>, ServingTime) {
    let scorer = DotProduct::new(items.dim, queries.values.clone(), &items.values);
    let ids: Vec<u32> = (0..queries.len() as u32).collect();
    let mut nth = Vec::new();
    let rate = timed(repeat, queries.len(), || {
        nth.clear();
        let mut out = Vec::new();
        for block in ids.chunks(256) {
            out.resize(block.len() * items.len(), 0.0);
            scorer.score_block(block, &mut out);
            for row in out.chunks_exact_mut(items.len()) {
                let top = best_k(row, &[], n);
                nth.push(top.last().map_or(f32::NEG_INFINITY, |&i| row[i as usize]));
            }
        }
    });
    (nth, rate)
}

/// The queries, each one's exact n-th best score, and the passes timed.
struct Workload<'a> {
    queries: &'a Vectors,
    nth: &'a [f32],
    n: usize,
    repeat: usize,
}

impl Workload<'_> {
    /// One index setting's row. Recall is ann-benchmarks' rule: a returned
    /// item counts when its inner product reaches the exact n-th best's
    /// minus 1e-3, so ties at the cut-off are not misses.
    /// Returns the recall and the median queries/s.
    fn row(
        &self,
        name: &str,
        setting: &str,
        index: &dyn MipsIndex,
        breadth: usize,
        build: f64,
    ) -> Result<(f64, f64)> {
        let queries = self.queries;
        let mut found: Vec<Vec<u32>> = Vec::new();
        let time = timed(self.repeat, queries.len(), || {
            found = (0..queries.len())
                .map(|q| index.search(queries.row(q), self.n, breadth, &|_| false))
                .collect();
        });
        let hits: usize = found
            .iter()
            .zip(self.nth)
            .enumerate()
            .map(|(q, (got, nth))| {
                got.iter()
                    .filter(|&&i| index.inner_product(queries.row(q), i) >= nth - 1e-3)
                    .count()
            })
            .sum();
        let recall = hits as f64 / (queries.len() * self.n).max(1) as f64;
        outln!(
            "| {name} | {setting} | {recall:.3} | {} | {build:.1} | {:.1} |",
            time.describe_rate(),
            index.overhead_bytes() as f64 / 1e6
        );
        Ok((recall, time.per_second()))
    }
}

/// Reads .fvecs (by extension) or Parquet vectors.
fn read_vectors(path: &Path) -> Result<Vectors> {
    if path.extension().is_some_and(|e| e == "fvecs") {
        return read_fvecs(path);
    }
    let (dim, values) = recsweep::store::read_factors(path)?;
    Ok(Vectors { dim, values })
}

/// The TEXMEX .fvecs layout: per vector, its dimension as a little-endian
/// i32, then that many little-endian f32. Written by hand: it is a dozen
/// lines, and no maintained crate reads it without pulling in a framework.
fn read_fvecs(path: &Path) -> Result<Vectors> {
    let bad = |what: String| InputError(format!("{}: {what}", path.display()));
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| BufReader::new(file).read_to_end(&mut bytes))
        .map_err(|e| bad(e.to_string()))?;
    let word = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
    let mut values = Vec::new();
    let (mut at, mut dim) = (0, None);
    while at < bytes.len() {
        let vector = values.len() / dim.unwrap_or(1);
        let d = match (word(at).map(i32::from_le_bytes), dim) {
            (Some(d), None) if d > 0 => d as usize,
            (Some(d), Some(first)) if d as usize == first => first,
            _ => {
                let expected = dim.map_or(String::new(), |d| format!(" (expected {d})"));
                return Err(bad(format!(
                    "vector {vector} (byte {at}) has no valid dimension{expected}"
                ))
                .into());
            }
        };
        dim = Some(d);
        for k in 0..d {
            let Some(w) = word(at + 4 + 4 * k) else {
                return Err(bad(format!("vector {vector} is cut short")).into());
            };
            values.push(f32::from_le_bytes(w));
        }
        at += 4 + 4 * d;
    }
    match dim {
        Some(dim) => Ok(Vectors { dim, values }),
        None => Err(bad("no vectors".to_string()).into()),
    }
}

fn write_fvecs(path: &Path, vectors: &Vectors) -> Result<()> {
    let mut out = Vec::with_capacity(vectors.values.len() * 4 + vectors.len() * 4);
    for i in 0..vectors.len() {
        out.extend_from_slice(&(vectors.dim as i32).to_le_bytes());
        for v in vectors.row(i) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    recsweep::store::write_atomic(path, &out)?;
    Ok(())
}
