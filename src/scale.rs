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
    #[error("Kubernetes does not say how many completions an Indexed Job has: pass --shards N (the Job's completions)")]
    KubernetesCount,
    #[error("shard {index} is not below the shard count {count}")]
    OutOfRange { index: usize, count: usize },
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
    let (index, count) = if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = match (
            number("SLURM_ARRAY_TASK_COUNT")?,
            number("SLURM_ARRAY_TASK_MAX")?,
        ) {
            (Some(count), _) => count,
            (None, Some(max)) if max >= min => max - min + 1,
            _ => shards.ok_or(ShardError::SlurmCount)?,
        };
        (task.saturating_sub(min), count)
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        (index, shards.ok_or(ShardError::KubernetesCount)?)
    } else {
        return Err(ShardError::NoEngine);
    };
    if index >= count {
        return Err(ShardError::OutOfRange { index, count });
    }
    Ok(Shard { index, count })
}

/// What `recsweep plan` needs to write a job definition.
pub struct PlanInput<'a> {
    pub spec: &'a Path,
    pub name: &'a str,
    /// The results root every shard writes under (shared storage).
    pub results: &'a Path,
    pub shards: usize,
    pub trials: usize,
}

/// A bash script for a Slurm login node: submits a job array with one task
/// per shard, each `recsweep run … --shard auto`, and a report job that
/// runs once the array has ended (whatever its tasks' exit status, so the
/// report lists what is missing).
pub fn slurm_script(p: &PlanInput) -> String {
    let (spec, results, name) = (p.spec.display(), p.results.display(), p.name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#!/usr/bin/env bash\n\
         # {trials} trials of {name} in {shards} Slurm array tasks; written by `recsweep plan --slurm`.\n\
         # Run it on a login node: bash THIS_FILE. {spec} and {results} must be on storage\n\
         # every node sees; recsweep must be on the nodes' PATH.\n\
         set -euo pipefail\n\
         array=$(sbatch --parsable <<'EOF'\n\
         #!/usr/bin/env bash\n\
         #SBATCH --job-name=recsweep-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task=2\n\
         #SBATCH --output=recsweep-{name}-%A_%a.log\n\
         recsweep run {spec} --results {results} --shard auto --quiet\n\
         EOF\n\
         )\n\
         sbatch --parsable --dependency=afterany:\"$array\" --job-name=recsweep-{name}-report \\\n\
         \x20 --output=recsweep-{name}-report-%j.log \\\n\
         \x20 --wrap \"recsweep report {results}/{name}\"\n\
         echo \"submitted array $array; the report job runs when every task has ended\"",
        trials = p.trials,
        shards = p.shards,
        last = p.shards.saturating_sub(1),
    );
    out
}

/// Two Kubernetes Jobs: an Indexed Job with one completion per shard (all
/// in parallel), each `recsweep run … --shard auto --shards N` on a shared
/// volume, then the report Job, applied once the first has completed.
pub fn kubernetes_manifest(p: &PlanInput) -> String {
    let (name, shards) = (p.name, p.shards);
    let spec_file = p
        .spec
        .file_name()
        .map_or_else(|| "spec.yaml".into(), |f| f.to_string_lossy().into_owned());
    let job = |suffix: &str, indexed: bool, command: &str| {
        let mut text = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: recsweep-{name}{suffix}\nspec:\n"
        );
        if indexed {
            let _ = write!(
                text,
                "  completionMode: Indexed\n  completions: {shards}\n  parallelism: {shards}\n  backoffLimitPerIndex: 1\n"
            );
        }
        let _ = write!(
            text,
            "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: recsweep\n          image: recsweep:latest   # an image with the recsweep binary\n          command: {command}\n          resources:\n            requests: {{cpu: \"2\"}}\n          volumeMounts:\n            - {{name: spec, mountPath: /spec}}\n            - {{name: results, mountPath: /results}}\n      volumes:\n        - name: spec\n          configMap: {{name: recsweep-{name}-spec}}   # kubectl create configmap recsweep-{name}-spec --from-file={spec_file}\n        - name: results\n          persistentVolumeClaim: {{claimName: recsweep-results}}   # ReadWriteMany, shared by every index\n"
        );
        text
    };
    format!(
        "# {trials} trials of {name} as a Kubernetes Indexed Job of {shards} completions; written by\n\
         # `recsweep plan --kubernetes`. Apply it, wait, then apply the report Job:\n\
         #   kubectl apply -f THIS_FILE    (both documents; the report Job waits for nothing, so\n\
         #   apply the second after: kubectl wait --for=condition=complete job/recsweep-{name} --timeout=24h)\n\
         {}---\n{}",
        job(
            "",
            true,
            &format!("[recsweep, run, /spec/{spec_file}, --results, /results, --shard, auto, --shards, \"{shards}\", --quiet]")
        ),
        job(
            "-report",
            false,
            &format!("[recsweep, report, /results/{name}, -o, /results/{name}.md]")
        ),
        trials = p.trials,
    )
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
            Err(ShardError::OutOfRange { index: 3, count: 3 })
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
