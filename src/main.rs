//! The `imagestore` command: `serve`, `environment create|list|delete`, `key
//! create|list|revoke` (in `admin_cli`), `gc`, `migrate`, `verify`. Each
//! parses its flags, calls the library, and prints; the admin commands print exactly one
//! JSON object on stdout so that scripts can read them.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use imagestore::config::{LogFormat, ServeArgs, StorageArgs};

mod admin_cli;
use admin_cli::{EnvironmentCommand, KeyCommand};

/// mimalloc rather than glibc's malloc for everything Rust allocates: a small-file GET makes
/// a few dozen short-lived allocations, and glibc spent 7.7% of the server's CPU on them
/// (`_int_free`, `malloc_consolidate`…). Built without transparent huge pages (`no_thp`),
/// and told by `tune_allocators` to return freed pages at once.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Remove orphan blobs and abandoned staging and temp files once, then exit. Safe
    /// beside running servers with any grace, 0 included: an upload whose blob is swept
    /// before its row commits writes it again (see `sweeping`).
    Gc {
        #[command(flatten)]
        storage: StorageArgs,
        /// Only blobs and files older than this many seconds are removed.
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
    /// Check that every image row's original is in the blob store with the content hash
    /// and size its row recorded; prints a JSON report (counts, ids of missing and corrupt
    /// originals) and exits non-zero if it found any. Changes nothing.
    Verify {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tune_allocators();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Environment(command) => {
            let _logs = init_logs(LogFormat::Text);
            println!("{}", admin_cli::environment(command).await?);
            Ok(())
        }
        Command::Key(command) => {
            let _logs = init_logs(LogFormat::Text);
            println!("{}", admin_cli::key(command).await?);
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
        Command::Verify { storage } => {
            let _logs = init_logs(LogFormat::Text);
            verify(&storage).await
        }
    }
}

async fn verify(storage: &StorageArgs) -> anyhow::Result<()> {
    use imagestore::storage::{BlobStore, Catalog};
    let storage = storage.resolve()?;
    let catalog = Catalog::open(&storage.database_url)
        .await
        .with_context(|| format!("opening the catalog {}", storage.database_url))?;
    let blobs = BlobStore::open(&storage.blob_store)?;
    let report = imagestore::verify::verify(&catalog, &blobs).await?;
    println!("{}", serde_json::to_string(&report)?);
    if !report.is_clean() {
        anyhow::bail!(
            "{} image(s) have no original and {} a corrupt one: missing {:?}, corrupt {:?}",
            report.missing.len(),
            report.corrupt.len(),
            report.missing,
            report.corrupt
        );
    }
    Ok(())
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
            "{} image(s) were not copied (missing or corrupt in the source):\n{}",
            report.failures.len(),
            report.failures.join("\n")
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
                "firstStart": "created environment 'default' with an admin key, and an operator key; keep the tokens, they are not shown again",
                "environment": { "id": first.environment.id, "name": first.environment.name },
                "key": admin_cli::created_key_json(&first.key),
                "operator": admin_cli::created_key_json(&first.operator),
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

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed here, when it is called
/// before the server starts, not when the future is first polled: until then the default
/// action would kill the process, so a SIGTERM right after the first-start banner would
/// skip the graceful shutdown.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |handler: Option<tokio::signal::unix::Signal>| async move {
                match handler {
                    Some(mut handler) => {
                        handler.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// mimalloc's index of its `purge_delay` option (`mi_option_purge_delay` in its v3 header,
/// which libmimalloc-sys does not name); a unit test below reads its documented default
/// through this index, so that a renumbering fails the tests rather than tuning the wrong
/// option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the server's memory close to what it holds at the moment, for both allocators in
/// the process.
///
/// mimalloc (Rust's allocations) keeps freed pages for a second before returning them
/// (`purge_delay`, 1000 ms in v3), so that 16 concurrent 8 MB uploads, each freeing its
/// buffers while the next allocates, peaked at 240-255 MB of RSS (`bench/run.sh`, scenario
/// rss); returning them at once gives 121-128 MB. Transparent huge pages are left out at
/// build time (`no_thp`): with them and no delay the burst peaked at 164 MB.
///
/// glibc (the C libraries: libwebp, SQLite) raises its mmap threshold each time a large
/// block is freed, up to 32 MiB, after which multi-megabyte buffers come from its heap
/// arenas, fragment them and stay resident (185-220 MB for the burst when glibc served
/// everything). Pinning the threshold at 1 MiB gives every large buffer its own mapping,
/// returned to the system as soon as it is freed.
fn tune_allocators() {
    // SAFETY: mi_option_set only stores the value of one of mimalloc's options, which it
    // reads each time it decides when to purge; it may be called at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; glibc allows it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(test)]
mod tests {
    /// At this index mimalloc v3 keeps `purge_delay`, whose default of 1000 ms none of its
    /// neighbours shares (`deprecated_eager_commit_delay` is 1, `use_numa_nodes` 0). Run
    /// without `MIMALLOC_PURGE_DELAY` in the environment, which would override it.
    #[test]
    fn purge_delay_index_is_mimallocs_purge_delay() {
        // SAFETY: mi_option_get only reads an option's value.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000);
    }
}
