//! Where a built report goes: the markdown at the path asked for, its
//! appendix beside it, and its figures in a folder named after it.

use std::path::Path;

use crate::store::{write_atomic, ResultsDir, StoreError};

/// Builds the report of `results` and writes it to `path`, every file
/// atomically. Figures go to the folder `path` names without its extension
/// (`reports/x.md` → `reports/x/`); an SVG left there by an earlier build
/// that this one no longer draws is removed, so the folder holds exactly
/// the figures the report links (a sweep rerun with fewer models or
/// sections would otherwise leave figures of results that are gone).
pub fn write(results: &ResultsDir, path: &Path) -> Result<(), StoreError> {
    let mut built = super::build(results)?;
    let stem = path.file_stem().map_or_else(
        || "report".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    built.figure_dir = stem.clone();
    if let Some(name) = path.file_name() {
        built.file = name.to_string_lossy().into_owned();
    }
    let dir = path.parent().unwrap_or(Path::new("")).join(&stem);
    if dir.is_dir() {
        let read = |source| StoreError::Read {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(read)? {
            let file = entry.map_err(read)?.path();
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let current = built.figures.iter().any(|f| Some(&f.file) == name.as_ref());
            if file.extension().is_some_and(|e| e == "svg") && !current {
                std::fs::remove_file(&file).map_err(|source| StoreError::Write {
                    path: file.clone(),
                    source,
                })?;
            }
        }
    }
    for figure in &built.figures {
        write_atomic(&dir.join(&figure.file), figure.svg.as_bytes())?;
    }
    let appendix = path.with_file_name(built.appendix_file());
    write_atomic(&appendix, super::render_appendix(&built).as_bytes())?;
    write_atomic(path, super::render_markdown(&built).as_bytes())
}
