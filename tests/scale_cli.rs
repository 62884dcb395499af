//! Scale-out: `--shard auto` reads the shard from Slurm or Kubernetes, and
//! `recsweep plan` prints job definitions that are valid as written.

use std::path::Path;

use std::process::Command;

const SPEC: &str = "name: sharded\nseed: 1\n\
dataset: {source: synthetic, users: 150, items: 60, interactions: 2000, seed: 2}\n\
evaluation: {cutoffs: [10]}\nmodels:\n  - model: ease\n    sweep: {l2: [10.0, 50.0, 100.0, 500.0]}\n";

fn recsweep(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recsweep"));
    cmd.current_dir(dir).args(args);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    dir
}

#[test]
fn shard_auto_follows_slurm_and_kubernetes_and_the_shards_cover_every_trial() {
    let dir = setup();
    let run = [
        "run",
        "spec.yaml",
        "--quiet",
        "--shard",
        "auto",
        "--results",
        "res",
    ];
    let ran = |out: &std::process::Output| -> usize {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let line = err.lines().find(|l| l.contains(" trials run, ")).unwrap();
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    let slurm = recsweep(
        dir.path(),
        &run,
        &[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
    );
    assert_eq!(ran(&slurm), 2);
    let mut kube = run.to_vec();
    kube.extend(["--shards", "2"]);
    let kubernetes = recsweep(dir.path(), &kube, &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(ran(&kubernetes), 2);
    let report = std::fs::read_to_string(dir.path().join("reports/sharded.md")).unwrap();
    assert!(
        !report.contains("Incomplete"),
        "both shards together are complete"
    );

    let none = recsweep(dir.path(), &run, &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("SLURM_ARRAY_TASK_ID"));
    let no_count = recsweep(dir.path(), &run, &[("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(no_count.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_count.stderr).contains("--shards N"));
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_and_a_report_job() {
    let dir = setup();
    let out = recsweep(
        dir.path(),
        &["plan", "spec.yaml", "--kubernetes", "--shards", "3"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    let job = &docs[0];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 3);
    assert_eq!(job["spec"]["parallelism"], 3);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let command: Vec<&str> = pod["containers"][0]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        [
            "recsweep",
            "run",
            "/spec/spec.yaml",
            "--results",
            "/results",
            "--shard",
            "auto",
            "--shards",
            "3",
            "--quiet"
        ]
    );
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "recsweep-results"
    );
    let report = &docs[1];
    assert_eq!(report["metadata"]["name"], "recsweep-sharded-report");
    assert_eq!(
        report["spec"]["template"]["spec"]["containers"][0]["command"][1],
        "report"
    );
    // kubectl's client-side dry run still asks a cluster which kinds exist:
    // without one it cannot judge, and says so.
    let dry = std::process::Command::new("kubectl")
        .args(["apply", "--dry-run=client", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    match dry {
        Err(_) => println!("SKIPPED kubectl dry run: kubectl is not installed"),
        Ok(mut child) => {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("connection refused") || err.contains("unable to recognize") {
                println!("SKIPPED kubectl dry run: no cluster to ask for the Job kind");
            } else {
                assert!(out.status.success(), "kubectl rejects the manifest: {err}");
            }
        }
    }
}

#[test]
fn the_slurm_script_submits_an_array_and_a_dependent_report() {
    let dir = setup();
    let out = recsweep(
        dir.path(),
        &[
            "plan",
            "spec.yaml",
            "--slurm",
            "--shards",
            "4",
            "--results",
            "/shared/results",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "#SBATCH --array=0-3",
        "recsweep run spec.yaml --results /shared/results --shard auto --quiet",
        "--dependency=afterany:\"$array\"",
        "recsweep report /shared/results/sharded",
    ] {
        assert!(
            script.contains(expected),
            "expected `{expected}` in\n{script}"
        );
    }
    // Valid bash as written.
    std::fs::write(dir.path().join("submit.sh"), &script).unwrap();
    let check = std::process::Command::new("bash")
        .args(["-n", "submit.sh"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
