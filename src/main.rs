use std::process::ExitCode;

use clap::Parser;

use arrears::cli::{execute, Cli, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = arrears::atomic::stop_cleanly_on_signals() {
        eprintln!("arrears: warning: cannot handle signals ({e}); an interrupted run may leave temporary files");
    }
    match execute(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("arrears: error: {err:#}");
            Exit::Failed.into()
        }
    }
}
