//! Progress output: a bar on a terminal, one line per trial otherwise (or
//! with --quiet, for logs).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use recsweep::format::describe_knobs;
use recsweep::runner::Progress;
use recsweep::sweep::Trial;

pub struct TrialProgress {
    bar: Option<ProgressBar>,
    total: AtomicUsize,
    done: AtomicUsize,
}

fn label(trial: &Trial) -> String {
    format!(
        "{} [{}] seed {}",
        trial.model_name,
        describe_knobs(&trial.knobs),
        trial.replicate()
    )
}

impl TrialProgress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} trials · ETA {eta} · {wide_msg}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    pub fn update(&self, progress: Progress) {
        match progress {
            Progress::Planned {
                to_run,
                already_done,
            } => {
                self.total.store(to_run, Ordering::SeqCst);
                match &self.bar {
                    Some(bar) => bar.set_length(to_run as u64),
                    None if already_done > 0 => {
                        eprintln!("{already_done} trials already done; {to_run} to run")
                    }
                    None => {}
                }
            }
            Progress::Refit { to_run } => {
                let total = self.total.fetch_add(to_run, Ordering::SeqCst) + to_run;
                match &self.bar {
                    Some(bar) => bar.set_length(total as u64),
                    None if to_run > 0 => eprintln!(
                        "refitting {to_run} selected configuration seeds on train ∪ validation"
                    ),
                    None => {}
                }
            }
            Progress::Round { round, to_run } => {
                let total = self.total.fetch_add(to_run, Ordering::SeqCst) + to_run;
                match &self.bar {
                    Some(bar) => bar.set_length(total as u64),
                    None if to_run > 0 => {
                        eprintln!(
                            "round {round}: {to_run} trials proposed from the earlier rounds' results"
                        )
                    }
                    None => {}
                }
            }
            Progress::Started { trial } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(label(trial));
                }
            }
            Progress::Finished {
                trial,
                seconds,
                error,
            } => {
                let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
                let total = self.total.load(Ordering::SeqCst);
                let status = match error {
                    Some(e) => format!("FAILED: {e}"),
                    None => format!("{seconds:.1} s"),
                };
                match &self.bar {
                    Some(bar) => {
                        bar.inc(1);
                        if error.is_some() {
                            bar.println(format!("{} {status}", label(trial)));
                        }
                    }
                    None => eprintln!("[{done}/{total}] {} {status}", label(trial)),
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
