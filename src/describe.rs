//! Readable messages for values a user wrote: serde's terse errors rewritten
//! in the spec's vocabulary with did-you-mean suggestions. A leaf, so the
//! spec parser and the models (which check their own params) share it.

/// A number as a user would write it back: Rust's shortest round-trip form,
/// in exponent notation only where the plain one runs long (`1e308`, not 309
/// digits; `1000` stays `1000`).
pub fn number(x: f64) -> String {
    let plain = x.to_string();
    if plain.len() > 12 {
        format!("{x:e}")
    } else {
        plain
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
        readable_types(&message.replace("invalid type: ", "wrong type: found ")),
        None,
    )
}

/// serde's Rust type names (`expected usize`) in words a spec's author uses.
fn readable_types(message: &str) -> String {
    let Some((head, expected)) = message.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let words = match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number ≥ 0",
        "i64" | "i32" | "i16" | "i8" => "a whole number",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        _ => return message.to_string(),
    };
    format!("{head}, expected {words}")
}

/// The full key path and readable message of a serde error raised while
/// deserializing the value found at `base`.
fn describe_serde_error(
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

/// [`describe_serde_error`] for an error raised while deserializing `value`
/// as `T`, with the allowed values of an enum spelt out: serde_yaml says
/// only "expected a Value::Tagged enum" when a number or list stands where
/// a named value belongs, so the value at the error's path is swapped for a
/// string no variant has, and the second attempt's "unknown variant" error
/// lists the variants.
pub fn describe_serde_error_in<T: serde::de::DeserializeOwned>(
    base: &str,
    error: &serde_path_to_error::Error<serde_yaml::Error>,
    value: &serde_yaml::Value,
) -> (String, String) {
    let (path, message) = describe_serde_error(base, error);
    const ENUM: &str = "expected a Value::Tagged enum";
    if !message.contains(ENUM) {
        return (path, message);
    }
    let mut probe = value.clone();
    let mut node = Some(&mut probe);
    for segment in error.path().iter() {
        use serde_path_to_error::Segment;
        node = node.and_then(|n| match segment {
            Segment::Seq { index } => n.as_sequence_mut()?.get_mut(*index),
            Segment::Map { key } => n.as_mapping_mut()?.get_mut(key.as_str()),
            _ => None,
        });
    }
    let found = node.map(|n| *n = serde_yaml::Value::String("\u{1}".into()));
    let allowed = found.and_then(|()| {
        let retry = serde_path_to_error::deserialize::<_, T>(probe.clone()).err()?;
        let text = retry.inner().to_string();
        let rest = text.strip_prefix("unknown variant `")?;
        let names: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        (!names.is_empty()).then(|| names.join(", "))
    });
    let message = match allowed {
        Some(names) => message.replace(ENUM, &format!("expected one of: {names}")),
        None => message.replace(ENUM, "expected one of its named values"),
    };
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
    fn numbers_read_as_written() {
        assert_eq!(number(1e308), "1e308");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-1.0), "-1");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(number(1e-12), "1e-12");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(250.0), "250");
    }

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

/// Problems found in one spec section, each as (key path, message) in the
/// order found: what a section's `issues()` returns, for the spec parser to
/// place in the file.
#[derive(Debug, Default)]
pub struct Issues(pub Vec<(String, String)>);

impl Issues {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push((key.into(), message.into()));
    }
}
