//! Trial claims: how several `recsweep run` processes (two terminals, the
//! shards of a job array, a rerun while a run is going) share one results
//! folder without running a trial twice.
//!
//! Before a worker runs a trial it creates `trials/<id>/claim` with
//! create-exclusive semantics (`O_CREAT | O_EXCL`, atomic on local disks and
//! on NFSv3+), writing its host, process id and a random token into it. While
//! the trial runs, a heartbeat thread refreshes the claim's modification time.
//! A claim whose time is older than the stale limit belongs to a worker that
//! died (`kill -9`, a lost node): another worker takes it over by renaming it
//! away (rename is atomic, so exactly one taker wins) and claiming afresh.
//! Only create-exclusive and rename are used, never `flock`, which network
//! filesystems do not honour reliably. The claim is removed once the trial's
//! record is written.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How often a live worker refreshes each claim it holds.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A claim not refreshed for this long belongs to a dead worker. Six missed
/// heartbeats: generous for a loaded node or a slow network filesystem.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The claim file of a trial folder.
pub fn claim_path(trial_dir: &Path) -> PathBuf {
    trial_dir.join("claim")
}

/// What trying to claim a trial found.
#[derive(Debug)]
pub enum Attempt {
    /// This worker now holds the claim; release it with [`Claims::release`].
    Acquired,
    /// A live worker holds it (its claim is fresher than the stale limit).
    HeldElsewhere { holder: String },
}

/// The claims one process holds, refreshed by a heartbeat thread until the
/// value is dropped.
pub struct Claims {
    held: Arc<Mutex<BTreeSet<PathBuf>>>,
    token: String,
    stale_after: Duration,
    stop: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Claims {
    /// Claims with the default timing, or with `RECSWEEP_CLAIM_STALE_SECS`
    /// (heartbeat a sixth of it) where a cluster's filesystem needs a longer
    /// grace, or a test a shorter one.
    pub fn start() -> Self {
        let stale = std::env::var("RECSWEEP_CLAIM_STALE_SECS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64);
        match stale {
            Some(stale) => Self::with_timing(stale / 6, stale),
            None => Self::with_timing(HEARTBEAT, STALE_AFTER),
        }
    }

    /// Claims with other timings (tests use short ones).
    pub fn with_timing(heartbeat: Duration, stale_after: Duration) -> Self {
        let held: Arc<Mutex<BTreeSet<PathBuf>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (held, stop) = (Arc::clone(&held), Arc::clone(&stop));
            std::thread::spawn(move || {
                // Sleep in short steps so dropping the claims is prompt.
                let step = Duration::from_millis(50).min(heartbeat);
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                    if waited >= heartbeat {
                        waited = Duration::ZERO;
                        let paths: Vec<PathBuf> = lock(&held).iter().cloned().collect();
                        for path in paths {
                            // A failed refresh only risks a takeover, which
                            // the token check at release makes harmless.
                            let _ = touch(&path);
                        }
                    }
                }
            })
        };
        Self {
            held,
            token: token(),
            stale_after,
            stop,
            heartbeat: Some(thread),
        }
    }

    /// Tries to claim the trial whose folder is `trial_dir` (created if
    /// missing). A stale claim is taken over.
    pub fn acquire(&self, trial_dir: &Path) -> std::io::Result<Attempt> {
        fs::create_dir_all(trial_dir)?;
        let path = claim_path(trial_dir);
        // Two rounds: the second follows the removal of a stale claim.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(self.token.as_bytes())?;
                    file.sync_all()?;
                    lock(&self.held).insert(path);
                    return Ok(Attempt::Acquired);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    if !self.is_stale(&path)? {
                        return Ok(Attempt::HeldElsewhere { holder });
                    }
                    // Rename, not remove: of two workers taking over at
                    // once, only one rename finds the file.
                    let aside = trial_dir.join(format!(".claim.stale-{}", self.token_id()));
                    match fs::rename(&path, &aside) {
                        Ok(()) => {
                            let _ = fs::remove_file(&aside);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Someone else claimed it between our takeover and our create.
        let holder = fs::read_to_string(&path).unwrap_or_default();
        Ok(Attempt::HeldElsewhere { holder })
    }

    /// Gives up the claim on `trial_dir`, if this worker still holds it (a
    /// worker thought dead whose claim was taken over leaves the new one).
    pub fn release(&self, trial_dir: &Path) {
        let path = claim_path(trial_dir);
        lock(&self.held).remove(&path);
        if fs::read_to_string(&path).is_ok_and(|t| t == self.token) {
            let _ = fs::remove_file(&path);
        }
    }

    /// Whether the claim at `path` was last refreshed longer ago than the
    /// stale limit. A claim that vanished meanwhile counts as stale (free).
    fn is_stale(&self, path: &Path) -> std::io::Result<bool> {
        match fs::metadata(path) {
            Ok(meta) => {
                let age = SystemTime::now()
                    .duration_since(meta.modified()?)
                    .unwrap_or(Duration::ZERO);
                Ok(age > self.stale_after)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn token_id(&self) -> &str {
        self.token.rsplit(' ').next().unwrap_or("")
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.heartbeat.take() {
            let _ = thread.join();
        }
    }
}

fn lock(held: &Mutex<BTreeSet<PathBuf>>) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
    // A panic elsewhere cannot leave the set half-updated: recover it.
    held.lock().unwrap_or_else(|e| e.into_inner())
}

fn touch(path: &Path) -> std::io::Result<()> {
    File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

/// `host pid nonce`: who holds a claim, for messages, and a value no other
/// worker writes (the nonce mixes the clock and the process id).
fn token() -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let pid = std::process::id();
    let nonce = crate::seed::mix(nanos ^ (u64::from(pid) << 32));
    format!("{host} {pid} {nonce:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_claim_is_exclusive_and_released_by_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let trial = dir.path().join("t1");
        let a = Claims::start();
        let b = Claims::start();
        assert!(matches!(a.acquire(&trial).unwrap(), Attempt::Acquired));
        assert!(matches!(
            b.acquire(&trial).unwrap(),
            Attempt::HeldElsewhere { .. }
        ));
        // b cannot release a's claim.
        b.release(&trial);
        assert!(claim_path(&trial).exists());
        a.release(&trial);
        assert!(!claim_path(&trial).exists());
        assert!(matches!(b.acquire(&trial).unwrap(), Attempt::Acquired));
    }

    #[test]
    fn a_stale_claim_is_taken_over_and_a_refreshed_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (stale, live) = (dir.path().join("stale"), dir.path().join("live"));
        // A claim left by a dead worker: no heartbeat refreshes it.
        fs::create_dir_all(&stale).unwrap();
        fs::write(claim_path(&stale), "gone 1 0").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(claim_path(&stale))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let worker = Claims::with_timing(Duration::from_millis(20), Duration::from_millis(300));
        assert!(matches!(worker.acquire(&stale).unwrap(), Attempt::Acquired));
        // A live worker's claim stays fresh past the stale limit.
        let holder = Claims::with_timing(Duration::from_millis(20), Duration::from_millis(300));
        assert!(matches!(holder.acquire(&live).unwrap(), Attempt::Acquired));
        std::thread::sleep(Duration::from_millis(600));
        assert!(matches!(
            worker.acquire(&live).unwrap(),
            Attempt::HeldElsewhere { .. }
        ));
        // Once its holder stops refreshing, it goes stale.
        drop(holder);
        std::thread::sleep(Duration::from_millis(600));
        assert!(matches!(worker.acquire(&live).unwrap(), Attempt::Acquired));
    }
}
