//! Log setup: `tracing` to stderr or a file, as text or JSON.

use std::fs::OpenOptions;
use std::io::IsTerminal as _;
use std::sync::Mutex;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// dm-tracer's level names, as `tracing` filter directives.
fn filter_directive(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" | "critical" => "error".into(),
        "warning" => "warn".into(),
        "" => "info".into(),
        _ => level.trim().to_owned(),
    }
}

/// Installs the global subscriber for the process.
pub fn init(config: &Config) -> anyhow::Result<()> {
    let directive = filter_directive(&config.log_level);
    let filter = EnvFilter::try_new(&directive).with_context(|| format!("parse log level {:?}", config.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    let result = match (config.log_file.is_empty(), config.log_format) {
        (true, LogFormat::Text) => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init(),
        (true, LogFormat::Json) => builder.json().with_writer(std::io::stderr).try_init(),
        (false, format) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&config.log_file)
                .with_context(|| format!("open log file {}", config.log_file))?;
            let writer = Mutex::new(file);
            match format {
                LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
                LogFormat::Json => builder.json().with_writer(writer).try_init(),
            }
        }
    };
    result.map_err(|error| anyhow::anyhow!("install the logger: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_tracer_level_names_map_to_tracing_filters() {
        assert_eq!(filter_directive("fatal"), "error");
        assert_eq!(filter_directive("WARNING"), "warn");
        assert_eq!(filter_directive("debug"), "debug");
        assert!(EnvFilter::try_new(filter_directive("info,tracekeep_store=debug")).is_ok());
    }
}
