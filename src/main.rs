use clap::Parser;

fn main() {
    let cli = copydesk::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        copydesk::cli::LogFormat::Json => logs.json().init(),
        copydesk::cli::LogFormat::Plain => logs.init(),
    }
    if let Err(e) = copydesk::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
