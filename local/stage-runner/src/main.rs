//! `stackwright`: run a stage's custom resources locally (`stackwright local up --stage dev`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use stage_runner::template::Template;
use stage_runner::{engine, plan, resolved, services, standin};

#[derive(Parser)]
#[command(
    name = "stackwright",
    version,
    about = "CloudFormation custom resources in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run a stage locally: CloudFormation's lifecycle for its custom resources on this machine.
    #[command(subcommand)]
    Local(Local),
    /// Read the template as CloudFormation would for a stage.
    #[command(subcommand)]
    Template(TemplateCommand),
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Print, as JSON keyed by stage, every resource with its intrinsics resolved for that
    /// stage (samconfig.toml's parameters, conditions, mappings): what the template checks read.
    Resolve(ResolveArgs),
}

#[derive(Args)]
struct ResolveArgs {
    /// An environment of samconfig.toml (repeatable).
    #[arg(long = "stage", required = true)]
    stages: Vec<String>,
    /// The project root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The template, relative to the root.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The SAM config, relative to the root.
    #[arg(long, default_value = "samconfig.toml")]
    config: PathBuf,
    /// A parameter value, `Key=Value` (repeatable), over samconfig's.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<String>,
}

#[derive(Subcommand)]
enum Local {
    /// Create or update the stage's custom resources (rolls back on failure).
    Up(StageArgs),
    /// Delete the stage's custom resources in reverse dependency order.
    Down(StageArgs),
    /// Show what exists for the stage.
    Status(StageArgs),
    /// Continue a rollback that failed (UPDATE_ROLLBACK_FAILED), as CloudFormation's
    /// ContinueUpdateRollback does.
    ContinueRollback {
        #[command(flatten)]
        stage: StageArgs,
        /// A resource whose failed rollback to leave as it is (CloudFormation's
        /// ResourcesToSkip; repeatable).
        #[arg(long = "skip", value_name = "LOGICAL_ID")]
        skip: Vec<String>,
    },
    /// Stop the local services `up` started (moto, the stand-in API, a throwaway PostgreSQL).
    StopServices(StageArgs),
    /// Serve the HTTP resource's local stand-in API (started by `up`).
    ServeApi {
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// JSON file the objects persist to.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Args)]
struct StageArgs {
    /// dev, test, stage or prod (an environment of samconfig.toml).
    #[arg(long, default_value = "dev")]
    stage: String,
    /// The project root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The template, relative to the root.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The SAM config, relative to the root.
    #[arg(long, default_value = "samconfig.toml")]
    config: PathBuf,
    /// What AWS-only resources become locally, relative to the root.
    #[arg(long, default_value = "local/overrides.yaml")]
    overrides: PathBuf,
    /// Where state is kept, relative to the root.
    #[arg(long, default_value = ".local/state")]
    state_dir: PathBuf,
    /// Where the function binaries are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// A parameter value, `Key=Value` (repeatable), over samconfig's.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    parameters: Vec<String>,
    /// An environment variable for one function, `binary:KEY=VALUE` (repeatable).
    #[arg(long = "function-env", value_name = "BINARY:KEY=VALUE")]
    function_env: Vec<String>,
    /// What a resource the failed operation replaced is sent on rollback: `delete-new` (a
    /// Delete of the new id) or `update-back` (an Update of the new id with the old
    /// properties, then a Delete of the new id at cleanup). CloudFormation does not document it.
    #[arg(long, default_value = "delete-new", value_parser = replaced_rollback)]
    replaced_rollback: plan::ReplacedRollback,
}

fn replaced_rollback(text: &str) -> Result<plan::ReplacedRollback, String> {
    plan::ReplacedRollback::parse(text)
        .ok_or_else(|| format!("expected `delete-new` or `update-back`, got `{text}`"))
}

impl StageArgs {
    fn options(&self) -> anyhow::Result<engine::Options> {
        let root = self
            .root
            .canonicalize()
            .with_context(|| format!("project root `{}`", self.root.display()))?;
        let exe = std::env::current_exe().context("locating this binary")?;
        let bin_dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => exe.parent().map(PathBuf::from).unwrap_or_default(),
        };
        let parameters = key_values(&self.parameters)?;
        let mut env = Vec::new();
        for e in &self.function_env {
            let (binary, kv) = e
                .split_once(':')
                .with_context(|| format!("`--function-env {e}` is not BINARY:KEY=VALUE"))?;
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("`--function-env {e}` is not BINARY:KEY=VALUE"))?;
            env.push((binary.to_owned(), k.to_owned(), v.to_owned()));
        }
        Ok(engine::Options {
            stage: self.stage.clone(),
            template: root.join(&self.template),
            samconfig: root.join(&self.config),
            overrides: root.join(&self.overrides),
            state_dir: root.join(&self.state_dir),
            services: services::Options {
                root: root.clone(),
                dir: root.join(".local/services"),
                exe,
            },
            bin_dir,
            parameters,
            env,
            replaced_rollback: self.replaced_rollback,
        })
    }
}

/// `--parameter KEY=VALUE` arguments as a map.
fn key_values(arguments: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    for p in arguments {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("`--parameter {p}` is not KEY=VALUE"))?;
        parameters.insert(k.to_owned(), v.to_owned());
    }
    Ok(parameters)
}

/// `stackwright template resolve`: each stage's resolved template, keyed by stage.
fn resolve(args: &ResolveArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let template = Template::load(&args.root.join(&args.template))?;
    let overrides = key_values(&args.parameters)?;
    let mut stages = serde_json::Map::new();
    for stage in &args.stages {
        let value = resolved::stage(&template, &args.root.join(&args.config), stage, &overrides)
            .with_context(|| format!("stage `{stage}`"))?;
        stages.insert(stage.clone(), value);
    }
    serde_json::to_writer_pretty(&mut *out, &stages)?;
    writeln!(out)?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let mut out = std::io::stdout();
    let command = match cli.command {
        Top::Local(command) => command,
        Top::Template(TemplateCommand::Resolve(args)) => {
            resolve(&args, &mut out)?;
            return Ok(true);
        }
    };
    match command {
        Local::Up(args) => Ok(engine::up(&args.options()?, &mut out).await?.ok),
        Local::Down(args) => Ok(engine::down(&args.options()?, &mut out).await?.ok),
        Local::ContinueRollback { stage, skip } => {
            Ok(
                engine::continue_rollback(&stage.options()?, &skip, &mut out)
                    .await?
                    .ok,
            )
        }
        Local::Status(args) => {
            engine::status(&args.options()?, &mut out)?;
            Ok(true)
        }
        Local::StopServices(args) => {
            services::stop(&args.options()?.services.dir, &mut out);
            Ok(true)
        }
        Local::ServeApi { port, data } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("binding 127.0.0.1:{port}"))?;
            standin::serve(listener, data).await?;
            Ok(true)
        }
    }
}
