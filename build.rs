//! Records the git revision recsweep is built from, for the reproducibility
//! appendix of reports ("unknown" outside a git checkout).

use std::path::Path;
use std::process::Command;

/// What the binary is built from: an edit elsewhere (a regenerated report,
/// results) does not make a build "modified".
const SOURCES: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    let dirty = git(&status).is_some_and(|s| !s.is_empty());
    let suffix = if dirty { "-modified" } else { "" };
    println!("cargo:rustc-env=RECSWEEP_GIT_REVISION={revision}{suffix}");
    // Rerun when a commit or checkout moves HEAD or its branch, or when a
    // source changes; not on writes of .git/index, which `git status` makes
    // whenever it refreshes it: watching it rebuilt the whole library after
    // every quickstart (the README's second command then cost two minutes
    // more).
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let refs = ["HEAD", "packed-refs"]
        .into_iter()
        .map(str::to_string)
        .chain(branch);
    for name in refs {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
}
