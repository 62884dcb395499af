//! The calls of MLflow's REST API (2.0) that an export makes, over minreq:
//! experiments get-by-name and create, runs search, create, log-batch,
//! update and delete, and the artifact proxy's upload. Each failure names
//! the call and what the server said.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::runs::{Batch, Metric};
use super::ExportError;

/// Seconds one request may take before the export stops with an error.
const TIMEOUT_SECONDS: u64 = 60;
/// Runs per page of runs/search (MLflow's maximum is 50,000; a page this
/// size stays a small answer).
const PAGE: usize = 1000;

pub struct Client {
    /// `http://host:port` and any path prefix, without a trailing slash.
    base: String,
    /// MLFLOW_TRACKING_TOKEN, sent as a bearer token.
    token: Option<String>,
}

/// A run as runs/search and runs/create describe it.
#[derive(Debug)]
pub struct RunInfo {
    pub run_id: String,
    pub artifact_uri: String,
    pub tags: BTreeMap<String, String>,
}

impl Client {
    /// A client of the tracking server at `uri`: an `http://` address
    /// (`https://` with the `https` build feature). MLflow's other tracking
    /// URIs (a local folder, a database) are read by its Python client only.
    pub fn new(uri: &str, token: Option<String>) -> Result<Self, ExportError> {
        let bad = |reason: &str| ExportError::Uri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let https = uri.starts_with("https://");
        if !(uri.starts_with("http://") || https) {
            return Err(bad("recsweep talks to a tracking server over its REST API: give its http:// address (e.g. http://127.0.0.1:5000); a folder or database URI is read by MLflow's Python client only"));
        }
        if https && !cfg!(feature = "https") {
            return Err(bad(
                "https needs recsweep built with `cargo build --release --features https`",
            ));
        }
        let host = uri.split_once("://").map_or("", |(_, rest)| rest);
        if host.is_empty() || host.starts_with('/') {
            return Err(bad("names no host"));
        }
        Ok(Self {
            base: uri.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn send(&self, call: &str, request: minreq::Request) -> Result<Value, ExportError> {
        let request = match &self.token {
            Some(t) => request.with_header("Authorization", format!("Bearer {t}")),
            None => request,
        };
        let response =
            request
                .with_timeout(TIMEOUT_SECONDS)
                .send()
                .map_err(|e| ExportError::Unreachable {
                    base: self.base.clone(),
                    message: e.to_string(),
                })?;
        let body = String::from_utf8_lossy(response.as_bytes()).into_owned();
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        if (200..300).contains(&response.status_code) {
            // The artifact upload answers with an empty body.
            return Ok(parsed.unwrap_or(Value::Null));
        }
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Err(ExportError::Rejected {
            call: call.to_string(),
            status: response.status_code,
            code: field("error_code").unwrap_or_else(|| response.reason_phrase.clone()),
            message: field("message").unwrap_or_else(|| body.chars().take(500).collect()),
        })
    }

    fn post(&self, endpoint: &str, body: &Value) -> Result<Value, ExportError> {
        let request = minreq::post(format!("{}/api/2.0/mlflow/{endpoint}", self.base))
            .with_header("Content-Type", "application/json")
            .with_body(body.to_string());
        self.send(endpoint, request)
    }

    /// The experiment's id and whether it is deleted; None where no
    /// experiment has the name.
    pub fn experiment(&self, name: &str) -> Result<Option<(String, bool)>, ExportError> {
        let endpoint = "experiments/get-by-name";
        let request = minreq::get(format!("{}/api/2.0/mlflow/{endpoint}", self.base))
            .with_param("experiment_name", name);
        match self.send(endpoint, request) {
            Ok(v) => {
                let e = &v["experiment"];
                let id = text(e, "experiment_id", endpoint)?;
                Ok(Some((id, e["lifecycle_stage"] == "deleted")))
            }
            Err(ExportError::Rejected { code, .. }) if code == "RESOURCE_DOES_NOT_EXIST" => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn create_experiment(&self, name: &str) -> Result<String, ExportError> {
        let v = self.post("experiments/create", &json!({ "name": name }))?;
        text(&v, "experiment_id", "experiments/create")
    }

    /// Every active run of the experiment that `filter` selects.
    pub fn search(&self, experiment: &str, filter: &str) -> Result<Vec<RunInfo>, ExportError> {
        let mut runs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "experiment_ids": [experiment],
                "filter": filter,
                "max_results": PAGE,
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let v = self.post("runs/search", &body)?;
            for run in v["runs"].as_array().into_iter().flatten() {
                runs.push(run_info(run, "runs/search")?);
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(runs),
            }
        }
    }

    pub fn create_run(
        &self,
        experiment: &str,
        name: &str,
        tags: &[(String, String)],
    ) -> Result<RunInfo, ExportError> {
        let v = self.post(
            "runs/create",
            &json!({
                "experiment_id": experiment,
                "run_name": name,
                "start_time": now_millis(),
                "tags": pairs(tags),
            }),
        )?;
        run_info(&v["run"], "runs/create")
    }

    pub fn log_batch(&self, run: &str, batch: &Batch) -> Result<(), ExportError> {
        let time = now_millis();
        let metrics: Vec<Value> = batch
            .metrics
            .iter()
            .map(|Metric { key, value, step }| {
                json!({ "key": key, "value": number(*value), "timestamp": time, "step": step })
            })
            .collect();
        self.post(
            "runs/log-batch",
            &json!({
                "run_id": run,
                "params": pairs(&batch.params),
                "metrics": metrics,
                "tags": pairs(&batch.tags),
            }),
        )
        .map(drop)
    }

    pub fn set_tag(&self, run: &str, key: &str, value: &str) -> Result<(), ExportError> {
        self.post(
            "runs/set-tag",
            &json!({ "run_id": run, "key": key, "value": value }),
        )
        .map(drop)
    }

    pub fn end_run(&self, run: &str, status: &str) -> Result<(), ExportError> {
        self.post(
            "runs/update",
            &json!({ "run_id": run, "status": status, "end_time": now_millis() }),
        )
        .map(drop)
    }

    pub fn delete_run(&self, run: &str) -> Result<(), ExportError> {
        self.post("runs/delete", &json!({ "run_id": run }))
            .map(drop)
    }

    /// Uploads `bytes` as the run's artifact `path` through the tracking
    /// server's artifact proxy (`mlflow server`'s default since MLflow 2.0),
    /// which only `mlflow-artifacts:` artifact URIs go through; false where
    /// the run's artifacts live elsewhere (a bucket the server does not
    /// proxy), which recsweep cannot write.
    pub fn upload(&self, run: &RunInfo, path: &str, bytes: Vec<u8>) -> Result<bool, ExportError> {
        let Some(rest) = run.artifact_uri.strip_prefix("mlflow-artifacts:") else {
            return Ok(false);
        };
        // `mlflow-artifacts:/1/<run>/artifacts`, or with the server's
        // address: `mlflow-artifacts://host:port/1/<run>/artifacts`.
        let location = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        let encoded: Vec<String> = location
            .split('/')
            .chain(path.split('/'))
            .filter(|s| !s.is_empty())
            .map(|s| urlencoding::encode(s).into_owned())
            .collect();
        let request = minreq::put(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}",
            self.base,
            encoded.join("/")
        ))
        .with_header("Content-Type", "application/octet-stream")
        .with_body(bytes);
        self.send("mlflow-artifacts upload", request).map(|_| true)
    }
}

/// A metric value as MLflow's JSON takes it: a number, or the strings
/// protobuf's JSON mapping uses for NaN and the infinities (an undefined
/// metric stays visible as NaN instead of being dropped).
fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

fn pairs(list: &[(String, String)]) -> Vec<Value> {
    list.iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

fn text(v: &Value, field: &str, call: &str) -> Result<String, ExportError> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ExportError::Answer {
            call: call.to_string(),
            message: format!("no `{field}` in {}", truncated(v)),
        })
}

fn run_info(run: &Value, call: &str) -> Result<RunInfo, ExportError> {
    let info = &run["info"];
    let tags = run["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_string(),
                t["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    Ok(RunInfo {
        run_id: text(info, "run_id", call)?,
        artifact_uri: info["artifact_uri"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        tags,
    })
}

fn truncated(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_addresses_are_tracking_servers() {
        for (uri, fragment) in [
            ("file:///tmp/mlruns", "REST API"),
            ("sqlite:///mlflow.db", "REST API"),
            ("databricks", "REST API"),
            ("http://", "names no host"),
        ] {
            let e = Client::new(uri, None).err().unwrap().to_string();
            assert!(e.contains(uri) && e.contains(fragment), "{e}");
        }
        let c = Client::new("http://127.0.0.1:5000/", None).unwrap();
        assert_eq!(c.base, "http://127.0.0.1:5000");
    }

    #[test]
    fn non_finite_metrics_use_protobufs_json_strings() {
        assert_eq!(number(0.5), json!(0.5));
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
    }
}
