//! Running a sweep on a cluster: which shard this process is, from the
//! engine's environment (`--shard auto`), and the job definitions `recsweep
//! plan` prints (a Slurm job array with a dependent report job; a Kubernetes
//! Indexed Job and its report Job). Every shard shares one results folder,
//! which trial claims (crate::claim) make safe; docs/scale.md.

use std::fmt::Write as _;
use std::path::Path;

use crate::runner::Shard;

/// Why the shard could not be read from the environment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard auto found neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) in the environment; pass --shard I/N instead")]
    NoEngine,
    #[error("{variable} is `{value}`, not a non-negative integer")]
    NotANumber {
        variable: &'static str,
        value: String,
    },
    #[error("a Slurm array task needs SLURM_ARRAY_TASK_COUNT, or SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX, to know the number of shards")]
    SlurmCount,
    #[error("SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {min}: the task is not in its own array's range")]
    BelowMin { task: usize, min: usize },
    #[error("Kubernetes does not say how many completions an Indexed Job has: pass --shards N (the Job's completions)")]
    KubernetesCount,
    #[error("the shard count from {from} is 0: a sweep needs at least one shard")]
    ZeroCount { from: &'static str },
    #[error("shard {index} is not below the shard count {count} (from {from})")]
    OutOfRange {
        index: usize,
        count: usize,
        from: &'static str,
    },
}

/// The shard of this process from the engine's environment: Slurm job
/// arrays (task id relative to the array's minimum, count from
/// SLURM_ARRAY_TASK_COUNT or max − min + 1) or Kubernetes Indexed Jobs
/// (JOB_COMPLETION_INDEX, count from `shards`). `env` reads a variable.
pub fn shard_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    shards: Option<usize>,
) -> Result<Shard, ShardError> {
    let number = |variable: &'static str| -> Result<Option<usize>, ShardError> {
        env(variable)
            .map(|value| {
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| ShardError::NotANumber { variable, value })
            })
            .transpose()
    };
    const FLAG: &str = "--shards";
    let (index, count, source) = if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        if task < min {
            return Err(ShardError::BelowMin { task, min });
        }
        let (count, source) = match (
            number("SLURM_ARRAY_TASK_COUNT")?,
            number("SLURM_ARRAY_TASK_MAX")?,
        ) {
            (Some(count), _) => (count, "SLURM_ARRAY_TASK_COUNT"),
            (None, Some(max)) if max >= min => (
                max - min + 1,
                "SLURM_ARRAY_TASK_MAX − SLURM_ARRAY_TASK_MIN + 1",
            ),
            _ => (shards.ok_or(ShardError::SlurmCount)?, FLAG),
        };
        (task - min, count, source)
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        (index, shards.ok_or(ShardError::KubernetesCount)?, FLAG)
    } else {
        return Err(ShardError::NoEngine);
    };
    if count == 0 {
        return Err(ShardError::ZeroCount { from: source });
    }
    if index >= count {
        return Err(ShardError::OutOfRange {
            index,
            count,
            from: source,
        });
    }
    Ok(Shard { index, count })
}

/// What `recsweep plan` needs to write a job definition.
pub struct PlanInput<'a> {
    pub spec: &'a Path,
    pub name: &'a str,
    /// The results root every shard writes under (shared storage).
    pub results: &'a Path,
    /// The folder `plan` ran in: Slurm jobs start there, so relative paths
    /// (the spec, the results, the spec's data) mean what they meant to `plan`.
    pub workdir: &'a Path,
    /// `--set KEY=VALUE` overrides given to `plan`, passed on to every job.
    pub overrides: &'a [String],
    pub shards: usize,
    pub trials: usize,
}

/// A value `plan` would write into a job definition that no quoting makes
/// safe: a control character (a newline ends a `#SBATCH` line, a heredoc
/// line or a YAML comment, and could start a command of its own), or a
/// path that is not UTF-8 (it could only be written as another path).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} `{}` {why}; job scripts cannot carry it safely: rename it", .value.escape_debug())]
pub struct UnsafeValue {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// The paths of a [`PlanInput`] as checked text.
struct Paths<'a> {
    spec: &'a str,
    results: &'a str,
    workdir: &'a str,
}

impl PlanInput<'_> {
    /// Every value interpolated into a job definition, checked: the paths
    /// as UTF-8 text, and no value with a control character.
    fn checked(&self) -> Result<Paths<'_>, UnsafeValue> {
        fn text<'p>(what: &'static str, path: &'p Path) -> Result<&'p str, UnsafeValue> {
            path.to_str().ok_or_else(|| UnsafeValue {
                what,
                value: path.to_string_lossy().into_owned(),
                why: "is not UTF-8",
            })
        }
        let paths = Paths {
            spec: text("the spec path", self.spec)?,
            results: text("--results", self.results)?,
            workdir: text("the working folder", self.workdir)?,
        };
        let values = [
            ("the spec path", paths.spec),
            ("--results", paths.results),
            ("the working folder", paths.workdir),
            ("the spec name", self.name),
        ]
        .into_iter()
        .chain(self.overrides.iter().map(|o| ("--set", o.as_str())));
        for (what, value) in values {
            if value.chars().any(char::is_control) {
                return Err(UnsafeValue {
                    what,
                    value: value.to_string(),
                    why: "holds a control character (newline, tab, ...)",
                });
            }
        }
        Ok(paths)
    }

    /// `--set KEY=VALUE` for each override, as argv words.
    fn set_args(&self) -> Vec<String> {
        self.overrides
            .iter()
            .flat_map(|o| ["--set".to_string(), o.clone()])
            .collect()
    }
}

/// `word` as one POSIX shell word: as is when it holds only characters no
/// shell treats specially, else single-quoted with each `'` written `'\''`
/// (inside single quotes nothing is special, so `$()`, backticks, `;` and
/// spaces stay literal). Written here: no maintained crate does only this
/// (shell-escape is unmaintained; shlex's `try_quote` also quotes `=`).
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command line of shell words.
fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A bash script for a Slurm login node: submits a job array with one task
/// per shard, each `recsweep run … --shard auto`, and a report job that
/// runs once the array has ended (whatever its tasks' exit status, so the
/// report lists what is missing). Every interpolated value is one quoted
/// shell word ([`shell_word`]); the report job's `--wrap` text is quoted
/// twice, since Slurm hands it to a shell again.
pub fn slurm_script(p: &PlanInput) -> Result<String, UnsafeValue> {
    let name = p.name;
    let paths = p.checked()?;
    let workdir = shell_word(paths.workdir);
    let mut run = vec!["recsweep", "run", paths.spec, "--results", paths.results];
    let sets = p.set_args();
    run.extend(sets.iter().map(String::as_str));
    run.extend(["--shard", "auto", "--quiet"]);
    // Both parts are checked UTF-8, so the joined path converts exactly.
    let report_dir = Path::new(paths.results).join(name);
    let report = shell_line(&["recsweep", "report", &report_dir.to_string_lossy()]);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#!/usr/bin/env bash\n\
         # {trials} trials of {name} in {shards} Slurm array tasks; written by `recsweep plan --slurm`.\n\
         # Run it on a login node: bash THIS_FILE. The spec, the results folder and the data\n\
         # must be on storage every node sees; recsweep must be on the nodes' PATH. Jobs run\n\
         # in the folder `plan` ran in, so relative paths mean what they meant there.\n\
         set -euo pipefail\n\
         array=$(sbatch --parsable --chdir {workdir} <<'EOF'\n\
         #!/usr/bin/env bash\n\
         #SBATCH --job-name=recsweep-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task=2\n\
         #SBATCH --output=recsweep-{name}-%A_%a.log\n\
         # Uncomment and set for your cluster:\n\
         ##SBATCH --time=04:00:00\n\
         ##SBATCH --mem=8G\n\
         ##SBATCH --partition=PARTITION\n\
         ##SBATCH --account=ACCOUNT\n\
         {run}\n\
         EOF\n\
         )\n\
         sbatch --parsable --dependency=afterany:\"$array\" --job-name=recsweep-{name}-report \\\n\
         \x20 --chdir {workdir} --output=recsweep-{name}-report-%j.log \\\n\
         \x20 --wrap {wrap}\n\
         echo \"submitted array $array; the report job runs when every task has ended\"",
        trials = p.trials,
        shards = p.shards,
        last = p.shards.saturating_sub(1),
        run = shell_line(&run),
        wrap = shell_word(&report),
    );
    Ok(out)
}

/// The longest suffix `plan --kubernetes` appends to the base object name.
const LONGEST_SUFFIX: &str = "-report";

/// A Kubernetes object name for the spec `name`: a DNS-1123 label
/// (lowercase letters, digits and `-`, starting and ending with a letter
/// or digit, at most 63 characters) with room for [`LONGEST_SUFFIX`]. A
/// name that had to change gets a short hash of the original, so `F_Plan.v2`
/// and `f-plan-v2` do not share objects.
pub fn kubernetes_name(name: &str) -> String {
    let mut base = String::from("recsweep-");
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    let base = base.trim_end_matches('-');
    let room = 63 - LONGEST_SUFFIX.len();
    if base == format!("recsweep-{name}") && base.len() <= room {
        return base.to_string();
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    let keep = room - hash.len() - 1;
    let cut = base[..base.len().min(keep)].trim_end_matches('-');
    format!("{cut}-{hash}")
}

/// Two Kubernetes Jobs: an Indexed Job with one completion per shard (all
/// in parallel), each `recsweep run … --shard auto --shards N` on a shared
/// volume, then the report Job, applied once the first has completed.
/// Object names come from [`kubernetes_name`]; every command word is a
/// YAML double-quoted string, and the spec's ConfigMap key is always
/// `spec.yaml`, whatever the file is called.
pub fn kubernetes_manifest(p: &PlanInput) -> Result<String, UnsafeValue> {
    let (name, shards) = (p.name, p.shards);
    let paths = p.checked()?;
    let object = kubernetes_name(name);
    let yaml_list = |words: &[String]| {
        let quoted: Vec<String> = words
            .iter()
            .map(|w| serde_json::to_string(w).expect("strings serialize"))
            .collect();
        format!("[{}]", quoted.join(", "))
    };
    let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let mut run = words(&[
        "recsweep",
        "run",
        "/spec/spec.yaml",
        "--results",
        "/results",
    ]);
    run.extend(p.set_args());
    run.extend(words(&[
        "--shard",
        "auto",
        "--shards",
        &shards.to_string(),
        "--quiet",
    ]));
    let report = words(&[
        "recsweep",
        "report",
        &format!("/results/{name}"),
        "-o",
        &format!("/results/{name}.md"),
    ]);
    let job = |stage: &str, suffix: &str, indexed: bool, command: &str| {
        let mut text = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {object}{suffix}\n  labels: {{recsweep/stage: {stage}}}\nspec:\n"
        );
        if indexed {
            let _ = write!(
                text,
                "  completionMode: Indexed\n  completions: {shards}\n  parallelism: {shards}\n  backoffLimitPerIndex: 1\n"
            );
        }
        let _ = write!(
            text,
            "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: recsweep\n          image: recsweep:latest   # an image with the recsweep binary\n          command: {command}\n          resources:\n            requests: {{cpu: \"2\"}}\n          volumeMounts:\n            - {{name: spec, mountPath: /spec}}\n            - {{name: results, mountPath: /results}}\n      volumes:\n        - name: spec\n          configMap: {{name: {object}-spec}}\n        - name: results\n          persistentVolumeClaim: {{claimName: recsweep-results}}   # ReadWriteMany, shared by every index\n"
        );
        text
    };
    Ok(format!(
        "# {trials} trials of {name} as a Kubernetes Indexed Job of {shards} completions; written by\n\
         # `recsweep plan --kubernetes`. First the spec, then the Indexed Job, then, once it has\n\
         # completed, the report Job (Kubernetes Jobs have no dependencies; -l picks one Job):\n\
         #   kubectl create configmap {object}-spec --from-file=spec.yaml={spec}\n\
         #   kubectl apply -f THIS_FILE -l recsweep/stage=sweep\n\
         #   kubectl wait --for=condition=complete job/{object} --timeout=24h\n\
         #   kubectl apply -f THIS_FILE -l recsweep/stage=report\n\
         {}---\n{}",
        job("sweep", "", true, &yaml_list(&run)),
        job("report", "-report", false, &yaml_list(&report)),
        trials = p.trials,
        spec = shell_word(paths.spec),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn slurm_arrays_give_the_task_relative_to_the_minimum() {
        let s = shard_from_env(
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]),
            None,
        );
        assert_eq!(s, Ok(Shard { index: 3, count: 4 }));
        let s = shard_from_env(
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "11"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_MAX", "13"),
            ]),
            None,
        );
        assert_eq!(s, Ok(Shard { index: 1, count: 4 }));
        assert_eq!(
            shard_from_env(&env(&[("SLURM_ARRAY_TASK_ID", "0")]), None),
            Err(ShardError::SlurmCount)
        );
        // An id below the array's minimum is not a task of it.
        assert_eq!(
            shard_from_env(
                &env(&[
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_MIN", "3"),
                    ("SLURM_ARRAY_TASK_MAX", "6"),
                ]),
                None
            ),
            Err(ShardError::BelowMin { task: 1, min: 3 })
        );
        let zero = shard_from_env(
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "0"),
            ]),
            None,
        );
        assert_eq!(
            zero,
            Err(ShardError::ZeroCount {
                from: "SLURM_ARRAY_TASK_COUNT"
            })
        );
        assert!(zero
            .unwrap_err()
            .to_string()
            .contains("SLURM_ARRAY_TASK_COUNT"));
    }

    /// The DNS-1123 label rule Kubernetes applies to object names.
    fn is_dns1123_label(s: &str) -> bool {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| alnum(c) || c == '-')
            && s.starts_with(alnum)
            && s.ends_with(alnum)
    }

    #[test]
    fn kubernetes_names_are_dns1123_labels_with_their_suffixes() {
        let long = "a".repeat(200);
        for name in [
            "F_Plan.v2",
            "f-plan-v2",
            "quickstart",
            "x",
            "A__B..c-",
            "9.9",
            &long,
        ] {
            let base = kubernetes_name(name);
            for suffix in ["", "-spec", LONGEST_SUFFIX] {
                let object = format!("{base}{suffix}");
                assert!(is_dns1123_label(&object), "{name} → {object}");
            }
        }
        assert_eq!(kubernetes_name("quickstart"), "recsweep-quickstart");
        // Sanitised names carry a hash of the original, so they stay apart.
        assert!(kubernetes_name("F_Plan.v2").starts_with("recsweep-f-plan-v2-"));
        assert_ne!(kubernetes_name("F_Plan.v2"), kubernetes_name("f-plan-v2"));
        assert_ne!(kubernetes_name("f_plan.v2"), kubernetes_name("F_Plan.v2"));
    }

    #[test]
    fn job_definitions_refuse_what_no_quoting_makes_safe() {
        use std::os::unix::ffi::OsStrExt as _;
        let not_utf8 = Path::new(std::ffi::OsStr::from_bytes(b"spec\xff.yaml"));
        let input = |spec: &'static Path, results: &'static Path| PlanInput {
            spec,
            name: "x",
            results,
            workdir: Path::new("/work"),
            overrides: &[],
            shards: 2,
            trials: 4,
        };
        let err = slurm_script(&input(not_utf8, Path::new("r"))).unwrap_err();
        assert_eq!((err.what, err.why), ("the spec path", "is not UTF-8"));
        let err = kubernetes_manifest(&input(Path::new("s.yaml"), Path::new("a\nb"))).unwrap_err();
        assert_eq!(err.what, "--results");
        assert!(slurm_script(&input(Path::new("s p.yaml"), Path::new("r"))).is_ok());
    }

    #[test]
    fn shell_words_survive_a_shell_as_one_literal_word() {
        assert_eq!(shell_word("spec.yaml"), "spec.yaml");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        for word in [
            "x; touch PWNED",
            "$(id)",
            "`id`",
            "a'b\"c",
            "*",
            "~",
            "a b",
            "-n",
        ] {
            let out = std::process::Command::new("bash")
                .args(["-c", &format!("printf %s {}", shell_word(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }

    #[test]
    fn kubernetes_needs_the_count_and_nothing_is_an_error() {
        assert_eq!(
            shard_from_env(&env(&[("JOB_COMPLETION_INDEX", "2")]), Some(3)),
            Ok(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            shard_from_env(&env(&[("JOB_COMPLETION_INDEX", "2")]), None),
            Err(ShardError::KubernetesCount)
        );
        assert_eq!(
            shard_from_env(&env(&[("JOB_COMPLETION_INDEX", "3")]), Some(3)),
            Err(ShardError::OutOfRange {
                index: 3,
                count: 3,
                from: "--shards"
            })
        );
        assert_eq!(
            shard_from_env(&env(&[("JOB_COMPLETION_INDEX", "0")]), Some(0)),
            Err(ShardError::ZeroCount { from: "--shards" })
        );
        assert_eq!(
            shard_from_env(&env(&[]), Some(3)),
            Err(ShardError::NoEngine)
        );
        assert!(matches!(
            shard_from_env(&env(&[("JOB_COMPLETION_INDEX", "x")]), Some(3)),
            Err(ShardError::NotANumber { .. })
        ));
    }
}
