//! How values are written for people: knob settings, p-values, numbers.
//! One home, so the report, the CI gate and the terminal read alike.

use serde_yaml::{Mapping, Value};

/// `l2=100, popularity=penalty(gamma=0.5)`; `defaults` when nothing is swept.
pub fn describe_knobs(knobs: &Mapping) -> String {
    if knobs.is_empty() {
        return "defaults".to_string();
    }
    knobs
        .iter()
        .map(|(k, v)| format!("{}={}", k.as_str().unwrap_or("?"), describe_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `none, penalty(gamma=0.5)`, or `—` for no values.
pub fn describe_values(values: &[Value]) -> String {
    if values.is_empty() {
        "—".to_string()
    } else {
        values
            .iter()
            .map(describe_value)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format_number(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!(
            "[{}]",
            items
                .iter()
                .map(describe_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Mapping(m) => {
            let method = m.get("method").map(describe_value);
            let rest: Vec<String> = m
                .iter()
                .filter(|(k, _)| k.as_str() != Some("method"))
                .map(|(k, v)| format!("{}={}", k.as_str().unwrap_or("?"), describe_value(v)))
                .collect();
            match method {
                Some(name) if rest.is_empty() => name,
                Some(name) => format!("{name}({})", rest.join(", ")),
                None => format!("{{{}}}", rest.join(", ")),
            }
        }
        Value::Tagged(t) => describe_value(&t.value),
    }
}

/// `4,096`: an integer with its thousands grouped.
pub fn format_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A p-value: four decimals, scientific below 1e-4, and "< 1e-300" where
/// the distribution's tail underflowed to 0 (p is then below what a double
/// can hold, not zero).
pub fn format_p(p: f64) -> String {
    if p <= 0.0 {
        "< 1e-300".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Four significant digits, without trailing zeros.
pub fn format_number(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let magnitude = f.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{f:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{f:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A correlation such as Kendall's τ: two decimals, a true minus sign.
pub fn format_correlation(tau: f64) -> String {
    format!("{tau:.2}").replace('-', "−")
}

/// `v` to the precision an uncertainty of `half` (an interval's
/// half-width) supports: two significant digits of `half`, a true minus
/// sign. Without an uncertainty, [`format_number`].
pub fn format_to_precision(v: f64, half: Option<f64>) -> String {
    let text = match half.filter(|h| h.is_finite() && *h > 0.0 && v.is_finite()) {
        Some(h) => {
            let decimals = (1 - h.log10().floor() as i32).clamp(0, 12) as usize;
            format!("{v:.decimals$}")
        }
        None => format_number(v),
    };
    match text.strip_prefix('-') {
        // -0.000 rounds a tiny negative: no sign then.
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => format!("−{rest}"),
        Some(rest) => rest.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_rounded_to_their_interval() {
        // Half-width 0.0147: two significant digits → three decimals.
        assert_eq!(format_to_precision(0.007239, Some(0.0147)), "0.007");
        assert_eq!(format_to_precision(-0.007448, Some(0.0147)), "−0.007");
        assert_eq!(format_to_precision(0.1850, Some(0.011)), "0.185");
        assert_eq!(format_to_precision(329.2, Some(12.0)), "329");
        assert_eq!(format_to_precision(-0.0001, Some(0.02)), "0.000");
        assert_eq!(format_to_precision(0.1234567, None), "0.1235");
        assert_eq!(format_correlation(-0.3333), "−0.33");
    }

    #[test]
    fn p_values_never_read_as_zero() {
        assert_eq!(format_p(0.0), "< 1e-300");
        assert_eq!(format_p(3.1e-7), "3.1e-7");
        assert_eq!(format_p(0.04567), "0.0457");
    }

    #[test]
    fn knobs_read_naturally() {
        let knobs: Mapping = serde_yaml::from_str(
            "{l2: 0.0001, popularity: {method: penalty, gamma: 0.5}, dim: 64}",
        )
        .unwrap();
        assert_eq!(
            describe_knobs(&knobs),
            "l2=0.0001, popularity=penalty(gamma=0.5), dim=64"
        );
        assert_eq!(describe_knobs(&Mapping::new()), "defaults");
        assert_eq!(format_number(123.456), "123.5");
        assert_eq!(format_number(1e-7), "1.000e-7");
    }
}
