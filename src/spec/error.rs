//! Spec errors: every problem found, each with where it is and how to fix it.

use std::fmt;
use std::path::PathBuf;

use super::location::Position;

/// One problem in a spec, at a key path such as `models[1].params.dropout`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecIssue {
    pub path: String,
    pub message: String,
    pub position: Option<Position>,
}

impl SpecIssue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            position: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Rendered { file, issues })]
    Invalid {
        file: PathBuf,
        issues: Vec<SpecIssue>,
    },
}

struct Rendered<'a> {
    file: &'a PathBuf,
    issues: &'a [SpecIssue],
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        for issue in self.issues {
            match issue.position {
                Some(p) => write!(f, "{file}:{}:{}: ", p.line, p.column)?,
                None => write!(f, "{file}: ")?,
            }
            if !issue.path.is_empty() {
                write!(f, "{}: ", issue.path)?;
            }
            writeln!(f, "{}", issue.message)?;
        }
        let n = self.issues.len();
        write!(f, "{n} error{} in {file}", if n == 1 { "" } else { "s" })
    }
}
