use std::process::ExitCode;

use clap::Parser;

use arrears::cli::{execute, Cli, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("arrears: error: {err:#}");
            Exit::Failed.into()
        }
    }
}
