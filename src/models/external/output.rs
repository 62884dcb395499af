//! Reading what a program wrote, checked before anything is scored: ids it
//! was not given, repeated rows, scores that are not finite numbers, lists
//! too short to fill the largest K. Every error names the file and the
//! line (TSV, counting the header as line 1) or row (Parquet).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Job, Output};
use crate::data::CsrMatrix;
use crate::models::{DotProduct, EpochLog, Scorer, ServingCost, TrainingCurve};
use crate::table::{read_delimited, read_parquet, Column, Delimited, Table};

/// A program's result, ready to score.
pub struct Read {
    pub scorer: Box<dyn Scorer>,
    pub curve: Option<TrainingCurve>,
}

pub fn read(folder: &Path, output: Output, train: &CsrMatrix, job: &Job) -> Result<Read, String> {
    let scorer: Box<dyn Scorer> = match output {
        Output::Recs => Box::new(recs(&File::find(folder, "recs")?, train, job)?),
        Output::Embeddings => Box::new(embeddings(folder, job)?),
    };
    Ok(Read {
        scorer,
        curve: progress(&folder.join("progress.jsonl"))?,
    })
}

/// One output table, TSV or Parquet.
struct File {
    path: PathBuf,
    parquet: bool,
}

impl File {
    /// `<stem>.tsv` or `<stem>.parquet`: exactly one of them.
    fn find(folder: &Path, stem: &str) -> Result<Self, String> {
        let tsv = folder.join(format!("{stem}.tsv"));
        let parquet = folder.join(format!("{stem}.parquet"));
        match (tsv.is_file(), parquet.is_file()) {
            (true, false) => Ok(Self {
                path: tsv,
                parquet: false,
            }),
            (false, true) => Ok(Self {
                path: parquet,
                parquet: true,
            }),
            (true, true) => Err(format!(
                "both {stem}.tsv and {stem}.parquet; write one of them"
            )),
            (false, false) => Err(format!(
                "neither {stem}.tsv nor {stem}.parquet in $RECSWEEP_OUTPUT ({})",
                folder.display()
            )),
        }
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    }

    /// Row `row` (0-based, after the header) within the file: `line 3`
    /// of text counting the header, `row 2` of Parquet.
    fn place(&self, row: usize) -> String {
        match self.parquet {
            true => format!("row {}", row + 1),
            false => format!("line {}", row + 2),
        }
    }

    /// Where row `row` is: the file and [`File::place`].
    fn at(&self, row: usize) -> String {
        format!("{} {}", self.name(), self.place(row))
    }

    fn table(&self) -> Result<Table, String> {
        let table = match self.parquet {
            true => read_parquet(&self.path),
            false => read_delimited(
                &self.path,
                Delimited {
                    separator: b'\t',
                    header: true,
                    quoting: false,
                    infer: false,
                },
            ),
        }
        .map_err(|e| {
            e.into_error(
                |e| format!("{}: {e}", self.name()),
                |m| format!("{}: {m}", self.name()),
            )
        })?;
        match table.emptiness() {
            Some(why) => Err(format!("{}: {why}", self.name())),
            None => Ok(table),
        }
    }

    fn column<'t>(&self, table: &'t Table, name: &str) -> Result<&'t Column, String> {
        table.column(name).ok_or_else(|| {
            format!(
                "{}: no `{name}` column (its columns: {})",
                self.name(),
                table.names().join(", ")
            )
        })
    }

    /// The cell as text, an error where it is missing.
    fn cell(&self, column: &Column, row: usize) -> Result<String, String> {
        column
            .text(row)
            .ok_or_else(|| format!("{}: the {} is missing", self.at(row), column.name))
    }

    /// The cell as a finite number.
    fn number(&self, column: &Column, row: usize) -> Result<f64, String> {
        let text = self.cell(column, row)?;
        match text.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            Ok(_) => Err(format!(
                "{}: {} {text} is not finite",
                self.at(row),
                column.name
            )),
            Err(_) => Err(format!(
                "{}: {} `{text}` is not a number",
                self.at(row),
                column.name
            )),
        }
    }
}

/// Dense ids by original id.
fn vocabulary(labels: &[String]) -> HashMap<&str, u32> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect()
}

/// The id of `column`'s cell, one of `known` (`side` names the input file
/// that lists them).
fn id_of(
    file: &File,
    column: &Column,
    row: usize,
    known: &HashMap<&str, u32>,
    side: &str,
) -> Result<u32, String> {
    let id = file.cell(column, row)?;
    known.get(id.as_str()).copied().ok_or_else(|| {
        format!(
            "{}: {side} `{id}` is not one recsweep gave (the input folder lists them)",
            file.at(row)
        )
    })
}

/// A recommendations table: per user its listed items with their scores;
/// `rank` is read as the score −rank.
fn recs(file: &File, train: &CsrMatrix, job: &Job) -> Result<Lists, String> {
    let table = file.table()?;
    let user = file.column(&table, "user")?;
    let item = file.column(&table, "item")?;
    let (value, negate) = match (table.column("score"), table.column("rank")) {
        (Some(score), None) => (score, false),
        (None, Some(rank)) => (rank, true),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{}: both a score and a rank column; keep one",
                file.name()
            ))
        }
        (None, None) => {
            return Err(format!(
                "{}: no `score` or `rank` column (its columns: {})",
                file.name(),
                table.names().join(", ")
            ))
        }
    };
    let (users, items) = (vocabulary(job.user_labels), vocabulary(job.item_labels));
    let n_items = job.item_labels.len();
    // (item, score, row) per user, to find repeats with both lines.
    let mut lists: Vec<Vec<(u32, f32, usize)>> = vec![Vec::new(); job.user_labels.len()];
    for row in 0..table.rows() {
        let u = id_of(file, user, row, &users, "user")?;
        let i = id_of(file, item, row, &items, "item")?;
        let x = file.number(value, row)?;
        let score = if negate { -x } else { x };
        lists[u as usize].push((i, score as f32, row));
    }
    for (u, list) in lists.iter_mut().enumerate() {
        list.sort_unstable_by_key(|&(i, _, row)| (i, row));
        if let Some(pair) = list.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "{} and {}: user `{}` lists item `{}` twice",
                file.at(pair[0].2),
                file.place(pair[1].2),
                job.user_labels[u],
                job.item_labels[pair[0].0 as usize]
            ));
        }
    }
    // Each user scored needs `list_length` items beyond its train items
    // (or every such item, in a small catalogue).
    let short: Vec<(u32, usize, usize)> = job
        .targets
        .iter()
        .filter_map(|&u| {
            let seen = train.row(u as usize);
            let unseen = lists[u as usize]
                .iter()
                .filter(|(i, _, _)| seen.binary_search(i).is_err())
                .count();
            let needed = job.list_length.min(n_items - seen.len());
            (unseen < needed).then_some((u, unseen, needed))
        })
        .collect();
    if let Some(&(u, unseen, needed)) = short.first() {
        return Err(format!(
            "{}: user `{}` has {unseen} recommended items beyond its train items, {needed} needed \
             (trial.json's list_length: the largest K, {}, plus the most items a user has held out \
             for validation); {} of {} users are short",
            file.name(),
            job.user_labels[u as usize],
            job.max_cutoff,
            short.len(),
            job.targets.len()
        ));
    }
    Ok(Lists {
        lists: lists
            .into_iter()
            .map(|l| l.into_iter().map(|(i, s, _)| (i, s)).collect())
            .collect(),
        n_items,
    })
}

/// Recommendation lists as a scorer: listed items get their score, the
/// rest −∞ (below every listed item, so never recommended before them).
struct Lists {
    /// Per user, (item, score) sorted by item.
    lists: Vec<Vec<(u32, f32)>>,
    n_items: usize,
}

impl Scorer for Lists {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        for (&u, row) in users.iter().zip(out.chunks_exact_mut(self.n_items)) {
            row.fill(f32::NEG_INFINITY);
            for &(i, s) in &self.lists[u as usize] {
                row[i as usize] = s;
            }
        }
    }

    /// What is held: the stored lists. Serving them is a lookup.
    fn cost(&self) -> ServingCost {
        ServingCost {
            parameters: self.lists.iter().map(|l| 2 * l.len() as u64).sum(),
            madds_per_user: 0,
        }
    }
}

/// `users.*` and `items.*`: an id column first, then one column per
/// dimension. Every item of the catalogue needs a vector, and every user
/// recommended for; other users score 0 everywhere.
fn embeddings(folder: &Path, job: &Job) -> Result<DotProduct, String> {
    let (users_file, items_file) = (File::find(folder, "users")?, File::find(folder, "items")?);
    let (users, user_dim, user_rows) = vectors(&users_file, job.user_labels, "user")?;
    let (items, item_dim, item_rows) = vectors(&items_file, job.item_labels, "item")?;
    if user_dim != item_dim {
        return Err(format!(
            "{} has {user_dim} dimensions but {} has {item_dim}",
            users_file.name(),
            items_file.name()
        ));
    }
    let missing = |have: &[bool], wanted: &mut dyn Iterator<Item = usize>| {
        wanted.filter(|&x| !have[x]).collect::<Vec<_>>()
    };
    let no_item = missing(&item_rows, &mut (0..job.item_labels.len()));
    if let Some(&i) = no_item.first() {
        return Err(format!(
            "{}: item `{}` of the catalogue has no vector ({} of {} items have none)",
            items_file.name(),
            job.item_labels[i],
            no_item.len(),
            job.item_labels.len()
        ));
    }
    let no_user = missing(&user_rows, &mut job.targets.iter().map(|&u| u as usize));
    if let Some(&u) = no_user.first() {
        return Err(format!(
            "{}: user `{}`, one to recommend for (input/users.tsv), has no vector ({} such users have none)",
            users_file.name(),
            job.user_labels[u],
            no_user.len()
        ));
    }
    Ok(DotProduct::new(user_dim, users, &items))
}

/// A vectors table as a dense (labels × dim) row-major matrix, zero where
/// an id has no row, and which ids had one.
fn vectors(
    file: &File,
    labels: &[String],
    side: &str,
) -> Result<(Vec<f32>, usize, Vec<bool>), String> {
    let table = file.table()?;
    let dim = table.columns.len().saturating_sub(1);
    if dim == 0 {
        return Err(format!(
            "{}: one column; an id column and at least one dimension are needed",
            file.name()
        ));
    }
    let known = vocabulary(labels);
    let mut matrix = vec![0.0f32; labels.len() * dim];
    let mut first_row: Vec<Option<usize>> = vec![None; labels.len()];
    for row in 0..table.rows() {
        let id = id_of(file, &table.columns[0], row, &known, side)? as usize;
        if let Some(earlier) = first_row[id] {
            return Err(format!(
                "{}: {side} `{}` already has a vector at {}",
                file.at(row),
                labels[id],
                file.at(earlier)
            ));
        }
        first_row[id] = Some(row);
        for (k, column) in table.columns[1..].iter().enumerate() {
            matrix[id * dim + k] = file.number(column, row)? as f32;
        }
    }
    Ok((matrix, dim, first_row.iter().map(Option::is_some).collect()))
}

/// One line of `progress.jsonl`.
#[derive(Deserialize)]
struct Progress {
    epoch: usize,
    loss: f64,
    #[serde(default)]
    validation: Option<f64>,
}

/// The training curve a program logged, if it wrote `progress.jsonl`; the
/// last epoch is the one kept.
fn progress(path: &Path) -> Result<Option<TrainingCurve>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let mut epochs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p: Progress = serde_json::from_str(line)
            .map_err(|e| format!("progress.jsonl line {}: {e}", n + 1))?;
        if !p.loss.is_finite() || p.validation.is_some_and(|v| !v.is_finite()) {
            return Err(format!(
                "progress.jsonl line {}: a value is not finite",
                n + 1
            ));
        }
        epochs.push(EpochLog {
            epoch: p.epoch,
            loss: p.loss,
            validation: p.validation,
        });
    }
    Ok(epochs
        .last()
        .map(|last| last.epoch)
        .map(|kept_epoch| TrainingCurve {
            kept_epoch,
            stopped_early: false,
            still_improving: false,
            epochs,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{write_parquet, WriteColumn};

    fn labels(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|k| format!("{prefix}{k}")).collect()
    }

    /// Reads `files` (name, content) as `output` for 2 users and 3 items;
    /// user u0 saw item i0 and both are recommended for.
    fn read_files(output: Output, files: &[(&str, &str)]) -> Result<Read, String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        read_folder(dir.path(), output)
    }

    /// Reads what `folder` holds as `output` for 2 users and 3 items.
    fn read_folder(folder: &Path, output: Output) -> Result<Read, String> {
        let (users, items) = (labels("u", 2), labels("i", 3));
        let train = CsrMatrix::from_pairs(2, 3, &[(0, 0)]);
        let job = Job {
            work: folder.to_path_buf(),
            user_labels: &users,
            item_labels: &items,
            targets: vec![0, 1],
            max_cutoff: 2,
            list_length: 2,
            trial_id: "t",
            threads: 1,
            features: None,
            extras: None,
        };
        read(folder, output, &train, &job)
    }

    fn scores(read: &Read, user: u32) -> Vec<f32> {
        let mut out = vec![0.0; 3];
        read.scorer.score_block(&[user], &mut out);
        out
    }

    #[test]
    fn ranks_become_scores_and_unlisted_items_score_lowest() {
        let recs = "user\titem\trank\nu0\ti2\t1\nu0\ti1\t2\nu1\ti0\t1\nu1\ti1\t2\n";
        let read = read_files(Output::Recs, &[("recs.tsv", recs)]).unwrap();
        assert_eq!(scores(&read, 0), vec![f32::NEG_INFINITY, -2.0, -1.0]);
        assert_eq!(scores(&read, 1), vec![-1.0, -2.0, f32::NEG_INFINITY]);
        assert!(read.curve.is_none());
    }

    #[test]
    fn recs_in_parquet_are_located_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recs.parquet");
        write_parquet(
            std::fs::File::create(&path).unwrap(),
            &[
                WriteColumn::Text("user", vec!["u0", "u0", "u1", "u1"]),
                WriteColumn::Text("item", vec!["i1", "i2", "i0", "i9"]),
                WriteColumn::F64("score", &[1.0, 0.5, 2.0, 1.0]),
            ],
        )
        .unwrap();
        let err = read_folder(dir.path(), Output::Recs).err().unwrap();
        assert_eq!(
            err,
            "recs.parquet row 4: item `i9` is not one recsweep gave (the input folder lists them)"
        );
    }

    #[test]
    fn embeddings_are_checked_for_missing_repeated_and_mismatched_vectors() {
        let users = "user\ta\tb\nu0\t1\t0\nu1\t0\t1\n";
        let items = "item\ta\tb\ni0\t1\t2\ni1\t3\t4\ni2\t5\t6\n";
        let read = read_files(
            Output::Embeddings,
            &[("users.tsv", users), ("items.tsv", items)],
        )
        .unwrap();
        assert_eq!(scores(&read, 1), vec![2.0, 4.0, 6.0]);
        let cases = [
            (
                users,
                "item\ta\tb\ni0\t1\t2\ni1\t3\t4\n",
                "item `i2` of the catalogue has no vector (1 of 3 items have none)",
            ),
            (
                "user\ta\tb\nu0\t1\t0\n",
                items,
                "user `u1`, one to recommend for (input/users.tsv), has no vector",
            ),
            (
                users,
                "item\ta\ni0\t1\ni1\t3\ni2\t5\n",
                "users.tsv has 2 dimensions but items.tsv has 1",
            ),
            (
                users,
                "item\ta\tb\ni0\t1\t2\ni1\t3\t4\ni2\t5\t6\ni0\t0\t0\n",
                "items.tsv line 5: item `i0` already has a vector at items.tsv line 2",
            ),
            (
                users,
                "item\ta\tb\ni0\t1\t2\ni1\t3\tinf\ni2\t5\t6\n",
                "items.tsv line 3: b inf is not finite",
            ),
            (users, "item\ni0\ni1\ni2\n", "items.tsv: one column"),
        ];
        for (u, i, expected) in cases {
            let err = read_files(Output::Embeddings, &[("users.tsv", u), ("items.tsv", i)])
                .err()
                .unwrap();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn a_curve_is_read_from_progress_and_a_bad_line_is_named() {
        let recs = "user\titem\tscore\nu0\ti1\t1\nu0\ti2\t0\nu1\ti0\t1\nu1\ti1\t0\n";
        let progress = "{\"epoch\": 1, \"loss\": 0.5}\n\n{\"epoch\": 2, \"loss\": 0.25, \"validation\": 0.1}\n";
        let read = read_files(
            Output::Recs,
            &[("recs.tsv", recs), ("progress.jsonl", progress)],
        )
        .unwrap();
        let curve = read.curve.unwrap();
        assert_eq!((curve.epochs.len(), curve.kept_epoch), (2, 2));
        assert_eq!(curve.epochs[1].validation, Some(0.1));
        let bad = "{\"epoch\": 1, \"loss\": 0.5}\n{\"epoch\": 2}\n";
        let err = read_files(Output::Recs, &[("recs.tsv", recs), ("progress.jsonl", bad)])
            .err()
            .unwrap();
        assert!(
            err.starts_with("progress.jsonl line 2: missing field `loss`"),
            "{err}"
        );
        let both = read_files(Output::Recs, &[("recs.tsv", recs), ("recs.parquet", "")]);
        assert_eq!(
            both.err().unwrap(),
            "both recs.tsv and recs.parquet; write one of them"
        );
    }
}
