//! Log set-up: tracing to stdout, JSON when Lambda's advanced logging asks for it, and never
//! the lines that would print a `ResponseURL`.

use tracing_subscriber::EnvFilter;

/// Targets whose most verbose lines print request URLs, raw events (`ResponseURL` included)
/// or request bodies.
/// They are held at INFO whatever level is asked for.
const QUIET_TARGETS: [&str; 7] = [
    "lambda_runtime::layers::api_response",
    "reqwest",
    "hyper",
    "hyper_util",
    // The AWS SDK prints whole requests and responses at TRACE; bodies may carry secret values.
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sigv4",
];

/// Initialises tracing the way Lambda expects.
///
/// The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) or else
/// `RUST_LOG`, default INFO; the format is JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`. Lines carry
/// no timestamp (CloudWatch adds one) and no colour. Calling it twice is harmless.
pub fn init_tracing() {
    let mut filter = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(level) if !level.trim().is_empty() => {
            let level = match level.trim().to_ascii_lowercase().as_str() {
                "fatal" => "error".to_owned(),
                other => other.to_owned(),
            };
            EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
        }
        _ => match std::env::var("RUST_LOG") {
            Ok(directives) => {
                EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
            }
            Err(_) => EnvFilter::new("info"),
        },
    };
    for target in QUIET_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let _already_set = if json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
    install_panic_hook();
}

/// Routes panic messages through tracing, so they are one line in the log's format.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(location, message, "panic");
    }));
}
