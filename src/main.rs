use std::process::ExitCode;

fn main() -> ExitCode {
    authprobe::cli::complete::complete_if_asked();
    let cli = authprobe::cli::manual::parse();
    let verbose = match &cli.command {
        authprobe::cli::Command::Conform(args) => args.verbose,
        _ => 0,
    };
    if let Some(warning) = authprobe::diagnostics::init(verbose) {
        eprintln!("warning: {warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut stdout = std::io::stdout();
    match runtime.block_on(authprobe::run(cli, &mut stdout)) {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(authprobe::Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let hint = err.hint().map(|h| format!("; {h}")).unwrap_or_default();
            // One line names the problem and the fix; a child's output, if any, follows it.
            // The chain can hold a child's output: show it, never let it drive the terminal.
            let chain = authprobe::report::printable(&err.chain());
            let (head, rest) = chain.split_once('\n').unwrap_or((&chain, ""));
            eprintln!("error: {head}{hint}");
            if !rest.is_empty() {
                eprintln!("{rest}");
            }
            if let authprobe::Error::UnknownKind { .. } = err {
                for kind in authprobe::tokens::Kind::ALL {
                    eprintln!("  {kind}");
                }
            }
            ExitCode::from(err.exit_code())
        }
    }
}
