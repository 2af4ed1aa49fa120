//! The admin commands of the `imagestore` binary: `environment create|list|delete` and
//! `key create|list|revoke`. They act as the operator at the server's shell (whoever can
//! run them can read the catalog anyway), through the same service calls the HTTP control
//! plane makes, so the same rules and the same audit log apply. Each prints exactly one
//! JSON value on stdout, so that scripts can read it.

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use imagestore::config::StorageArgs;
use imagestore::domain::{Credential, Principal, Scope};
use imagestore::service::{CreatedKey, Service};

#[derive(Subcommand)]
pub enum EnvironmentCommand {
    /// Create an environment; prints {"id", "name"}.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        name: String,
    },
    /// List every environment; prints [{"id", "name", "createdAt"}].
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Remove an environment with every row and blob in it. Refused while it holds
    /// images, unless --purge.
    Delete {
        #[command(flatten)]
        storage: StorageArgs,
        id: Uuid,
        /// Also remove its images.
        #[arg(long)]
        purge: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints {"id", "token", "scopes"}. The token is shown only here.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        /// The environment the key belongs to (not with --operator).
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        environment: Option<Uuid>,
        /// Comma-separated: images:read, images:write, admin.
        #[arg(long, default_value = "images:read,images:write")]
        scopes: String,
        /// A deployment-wide operator key, which may manage every environment.
        #[arg(long)]
        operator: bool,
        /// A name to tell the key apart by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an environment's keys (never their tokens); prints [{"id", "name", …}].
    List {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        environment: Uuid,
    },
    /// Revoke a key (an environment's or an operator key): every instance refuses it
    /// within a second.
    Revoke {
        #[command(flatten)]
        storage: StorageArgs,
        id: Uuid,
    },
}

async fn open(storage: &StorageArgs) -> anyhow::Result<std::sync::Arc<Service>> {
    let storage = storage.resolve()?;
    let settings = imagestore::default_settings(&storage);
    imagestore::open_service(&storage, settings)
        .await
        .with_context(|| format!("opening the catalog {}", storage.database_url))
}

pub async fn environment(command: EnvironmentCommand) -> anyhow::Result<Value> {
    let shell = Principal::shell();
    Ok(match command {
        EnvironmentCommand::Create { storage, name } => {
            let service = open(&storage).await?;
            let environment = service.create_environment(&shell, &name, None).await?;
            json!({ "id": environment.id, "name": environment.name })
        }
        EnvironmentCommand::List { storage } => {
            let service = open(&storage).await?;
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let (page, next) = service.environments(&shell, after, 1000).await?;
                all.extend(page.into_iter().map(|environment| {
                    json!({
                        "id": environment.id,
                        "name": environment.name,
                        "createdAt": environment.created_at.to_rfc3339(),
                    })
                }));
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            Value::Array(all)
        }
        EnvironmentCommand::Delete { storage, id, purge } => {
            let service = open(&storage).await?;
            service.delete_environment(&shell, id, purge).await?;
            json!({ "deleted": id })
        }
    })
}

pub async fn key(command: KeyCommand) -> anyhow::Result<Value> {
    let shell = Principal::shell();
    Ok(match command {
        KeyCommand::Create {
            storage,
            environment,
            scopes,
            operator,
            name,
        } => {
            let service = open(&storage).await?;
            let created = match environment {
                Some(environment) if !operator => {
                    let scopes = Scope::parse_list(&scopes)?;
                    service
                        .create_key(&shell, environment, name, scopes, None)
                        .await?
                }
                _ => service.create_operator_key(&shell, name).await?,
            };
            created_key_json(&created)
        }
        KeyCommand::List {
            storage,
            environment,
        } => {
            let service = open(&storage).await?;
            let keys = service.keys(&shell, environment).await?;
            Value::Array(keys.iter().map(key_json).collect())
        }
        KeyCommand::Revoke { storage, id } => {
            let service = open(&storage).await?;
            let key = service
                .catalog()
                .credential(id)
                .await?
                .with_context(|| format!("no key {id}"))?;
            service.revoke_key(&shell, key.environment_id, id).await?;
            json!({ "revoked": id })
        }
    })
}

/// A key as the first start and `key create` print it, token included.
pub fn created_key_json(created: &CreatedKey) -> Value {
    let mut value = key_json(&created.credential);
    value["token"] = json!(created.token);
    value
}

fn key_json(key: &Credential) -> Value {
    json!({
        "id": key.id,
        "environmentId": key.environment_id,
        "name": key.name,
        "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "prefix": key.token_prefix(),
        "createdAt": key.created_at.to_rfc3339(),
        "expiresAt": key.expires_at.map(|t| t.to_rfc3339()),
        "lastUsedAt": key.last_used_at.map(|t| t.to_rfc3339()),
    })
}
