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

/// The closest of `candidates` to a misspelt `word`, if any is close enough to
/// be the likely intent.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, c)| *score >= 0.8 || strsim::levenshtein(word, c) <= 2)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Rewrites serde's terse messages into the spec's vocabulary, adding a
/// suggestion for misspelt keys and values. Returns the message and the key
/// the message is about, when serde names one that the path does not include.
pub fn humanize(message: &str) -> (String, Option<String>) {
    for (prefix, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let Some(end) = rest.find('`') else { break };
            let word = &rest[..end];
            let allowed: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
            let mut text = format!("unknown {noun} `{word}`");
            if let Some(suggestion) = did_you_mean(word, &allowed) {
                text.push_str(&format!("; did you mean `{suggestion}`?"));
            }
            if allowed.is_empty() {
                text.push_str(&format!("; this {noun} takes no {noun}s"));
            } else {
                text.push_str(&format!(" (allowed: {})", allowed.join(", ")));
            }
            let key = (noun == "key").then(|| word.to_string());
            return (text, key);
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(end) = rest.find('`') {
            let key = &rest[..end];
            return (format!("missing required key `{key}`"), None);
        }
    }
    (
        message.replace("invalid type: ", "wrong type: found "),
        None,
    )
}

/// The full key path and readable message of a serde error raised while
/// deserializing the value found at `base`.
pub fn describe_serde_error(
    base: &str,
    error: &serde_path_to_error::Error<serde_yaml::Error>,
) -> (String, String) {
    let inner = error.path().to_string();
    let mut path = join_path(base, if inner == "." { "" } else { &inner });
    let (message, key) = humanize(&error.inner().to_string());
    // serde_path_to_error usually records an unknown key already.
    if let Some(key) = key {
        if !path.ends_with(&key) {
            path = join_path(&path, &key);
        }
    }
    (path, message)
}

/// `a` + `b` as a key path: `models[1]` + `params` → `models[1].params`.
pub fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_gets_a_suggestion_and_the_allowed_keys() {
        let (text, key) = humanize("unknown field `sorce`, expected one of `source`, `path`");
        assert_eq!(
            text,
            "unknown key `sorce`; did you mean `source`? (allowed: source, path)"
        );
        assert_eq!(key.as_deref(), Some("sorce"));
    }

    #[test]
    fn unknown_variant_without_close_match_lists_allowed_values() {
        let (text, key) = humanize("unknown variant `zzz`, expected `full` or `sampled`");
        assert_eq!(text, "unknown value `zzz` (allowed: full, sampled)");
        assert_eq!(key, None);
    }

    #[test]
    fn did_you_mean_ignores_distant_words() {
        assert_eq!(did_you_mean("dropuot", &["dropout", "l2"]), Some("dropout"));
        assert_eq!(did_you_mean("xyz", &["dropout", "temperature"]), None);
    }
}
