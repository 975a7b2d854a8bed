use std::process::ExitCode;

use clap::Parser;

use arrears::cli::{execute, Cli, Exit, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = arrears::io::atomic::stop_cleanly_on_signals() {
        eprintln!("arrears: warning: cannot handle signals ({e}); an interrupted run may leave temporary files");
    }
    match execute(cli) {
        Ok(exit) => exit.into(),
        // An output to a closed pipe (`-o - | head`): stop quietly, as a
        // program killed by SIGPIPE would, with nothing else committed.
        Err(err) if broken_pipe(&err) => ExitCode::from(141),
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("arrears: usage error: {err:#}");
            Exit::Usage.into()
        }
        Err(err) => {
            eprintln!("arrears: error: {err:#}");
            Exit::Failed.into()
        }
    }
}

fn broken_pipe(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<arrears::error::Error>(),
        Some(arrears::error::Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::BrokenPipe
    )
}
