//! The `recsweep` binary: parse flags, call the library, print, exit
//! 0 (success), 1 (a run or check failed) or 2 (bad input).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
