//! The `recsweep` binary: parse flags, call the library, print, exit
//! 0 (success), 1 (a run or check failed) or 2 (bad input).

mod cli;

fn main() -> std::process::ExitCode {
    recsweep::table::parquet::quiet_guarded_panics();
    cli::main()
}
