//! The `imagestore` command: `serve`, `environment create`, `key create`, `gc`, `migrate`. Each
//! parses its flags, calls the library, and prints; the admin commands print exactly one
//! JSON object on stdout so that scripts can read them.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use uuid::Uuid;

use imagestore::config::{LogFormat, ServeArgs, StorageArgs};
use imagestore::domain::Scope;

#[derive(Parser)]
#[command(name = "imagestore", version, about = "A self-hostable image service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Manage environments (tenants).
    #[command(subcommand)]
    Environment(EnvironmentCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Remove orphan blobs and stale temp files once, then exit.
    Gc {
        #[command(flatten)]
        storage: StorageArgs,
        /// Only blobs older than this many seconds are removed.
        #[arg(long, env = "IMAGESTORE_ORPHAN_GRACE", default_value_t = 3600)]
        grace_secs: u64,
    },
    /// Copy a whole deployment (the source named by the usual storage flags) into another
    /// catalog and blob store, verifying every blob; safe to re-run after an interruption.
    Migrate {
        #[command(flatten)]
        storage: StorageArgs,
        /// Destination catalog: `postgres://…` or `sqlite:PATH`.
        #[arg(long)]
        to_database_url: String,
        /// Destination blob store: `s3://bucket[/prefix]` or a directory.
        #[arg(long)]
        to_blob_store: String,
    },
}

#[derive(Subcommand)]
enum EnvironmentCommand {
    /// Create an environment; prints {"id", "name"}.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key; prints {"id", "token", "scopes"}. The token is shown only here.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        environment: Uuid,
        /// Comma-separated: images:read, images:write, admin.
        #[arg(long, default_value = "images:read,images:write")]
        scopes: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pin_mmap_threshold();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Environment(EnvironmentCommand::Create { storage, name }) => {
            let _logs = init_logs(LogFormat::Text);
            let service = open(&storage).await?;
            let environment = service.create_environment(&name).await?;
            println!(
                "{}",
                json!({ "id": environment.id, "name": environment.name })
            );
            Ok(())
        }
        Command::Key(KeyCommand::Create {
            storage,
            environment,
            scopes,
        }) => {
            let _logs = init_logs(LogFormat::Text);
            let scopes = Scope::parse_list(&scopes)?;
            let service = open(&storage).await?;
            let key = service.create_key(environment, scopes).await?;
            println!(
                "{}",
                json!({
                    "id": key.id,
                    "environmentId": key.environment_id,
                    "token": key.token,
                    "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                })
            );
            Ok(())
        }
        Command::Gc {
            storage,
            grace_secs,
        } => {
            let _logs = init_logs(LogFormat::Text);
            let service = open(&storage).await?;
            let report = service
                .sweep(std::time::Duration::from_secs(grace_secs))
                .await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Migrate {
            storage,
            to_database_url,
            to_blob_store,
        } => {
            let _logs = init_logs(LogFormat::Text);
            migrate(&storage, &to_database_url, &to_blob_store).await
        }
    }
}

async fn migrate(
    storage: &StorageArgs,
    to_database_url: &str,
    to_blob_store: &str,
) -> anyhow::Result<()> {
    use imagestore::migrate::{Deployment, Progress};
    use imagestore::storage::{BlobStore, Catalog};
    use std::io::{IsTerminal, Write};

    let source = storage.resolve()?;
    let from = Deployment {
        catalog: Catalog::open(&source.database_url)
            .await
            .with_context(|| format!("opening the source catalog {}", source.database_url))?,
        blobs: BlobStore::open(&source.blob_store)?,
    };
    let to = Deployment {
        catalog: Catalog::open(to_database_url)
            .await
            .with_context(|| format!("opening the destination catalog {to_database_url}"))?,
        blobs: BlobStore::open(to_blob_store)?,
    };
    let terminal = std::io::stderr().is_terminal();
    let report = imagestore::migrate::migrate(&from, &to, |p: Progress<'_>| {
        if terminal {
            let filled = (p.done * 30).checked_div(p.total).unwrap_or(30).min(30) as usize;
            eprint!(
                "\r{:<16} [{}{}] {}/{}",
                p.table,
                "#".repeat(filled),
                ".".repeat(30 - filled),
                p.done,
                p.total
            );
            if p.done >= p.total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    })
    .await?;
    println!("{}", serde_json::to_string(&report)?);
    if !report.failures.is_empty() {
        anyhow::bail!(
            "{} image(s) failed verification and were not copied; see \"failures\"",
            report.failures.len()
        );
    }
    Ok(())
}

async fn open(
    storage: &StorageArgs,
) -> anyhow::Result<std::sync::Arc<imagestore::service::Service>> {
    let storage = storage.resolve()?;
    let settings = imagestore::default_settings(&storage);
    imagestore::open_service(&storage, settings)
        .await
        .with_context(|| format!("opening the catalog {}", storage.database_url))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let _logs = init_logs(config.log_format);
    let running = imagestore::start(config, shutdown_signal()).await?;
    if let Some(first) = &running.bootstrap {
        // Printed once, on the first start with an empty catalog: the only time the
        // token is visible. Not logged.
        println!(
            "{}",
            json!({
                "firstStart": "created environment 'default' and an admin key; keep the token, it is not shown again",
                "environment": { "id": first.environment.id, "name": first.environment.name },
                "key": { "id": first.key.id, "token": first.key.token, "scopes": ["admin"] },
            })
        );
    }
    tracing::info!(address = %running.local_addr, "imagestore listening");
    running.wait().await;
    Ok(())
}

/// Installs logging (see `imagestore::logging`): `IMAGESTORE_LOG` is a level (default
/// `info`) or a target list; lines go to stderr from a writer thread, and the returned
/// guard writes what is still queued when `main` returns.
fn init_logs(format: LogFormat) -> imagestore::logging::LogGuard {
    let filter = std::env::var("IMAGESTORE_LOG").ok();
    imagestore::logging::init(format, filter.as_deref())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after
/// which an upload's multi-megabyte buffers come from the heap arenas, fragment them and
/// stay resident: 16 concurrent 8 MB uploads peaked at 185-220 MB of RSS. Pinning the
/// threshold at 1 MiB gives every large buffer its own mapping, returned to the system as
/// soon as it is freed (87-112 MB for the same burst across runs of `bench/run.sh`,
/// scenario rss).
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; glibc allows it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
