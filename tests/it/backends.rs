//! Which engines a test server runs on. By default each server gets the embedded default
//! (SQLite + a local directory) in its own temp dir. `.ci/run` runs the whole suite a
//! second time on the real engines of the scale-out mode:
//!
//! - `IMAGESTORE_TEST_CATALOG=postgres`: each server gets a fresh PostgreSQL database,
//!   created through `IMAGESTORE_TEST_DATABASE_URL` and named after it with a random
//!   suffix (`.ci/run` drops them all at the end).
//! - `IMAGESTORE_TEST_BLOB_STORE=s3://bucket`: each server gets its own random prefix in
//!   that bucket, with the AWS_* variables naming the endpoint and key.

use futures_util::TryStreamExt;
use sqlx::Connection;
use tempfile::TempDir;

use imagestore::storage::BlobStore;

/// The storage of one test deployment; several servers may share it (restarts, many
/// instances).
pub struct TestStorage {
    pub dir: TempDir,
    pub database_url: Option<String>,
    pub blob_store: Option<String>,
}

/// A parameter of [`TestStorage::run_sql`].
pub enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

impl TestStorage {
    pub async fn new() -> TestStorage {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match std::env::var("IMAGESTORE_TEST_CATALOG").as_deref() {
            Ok("postgres") => Some(fresh_database().await),
            Ok("sqlite") | Err(_) => None,
            Ok(other) => panic!("IMAGESTORE_TEST_CATALOG={other:?}: use sqlite or postgres"),
        };
        let blob_store = std::env::var("IMAGESTORE_TEST_BLOB_STORE")
            .ok()
            .filter(|spec| !spec.is_empty())
            .map(|spec| {
                assert!(
                    spec.starts_with("s3://"),
                    "IMAGESTORE_TEST_BLOB_STORE={spec}"
                );
                format!("{}/{}", spec.trim_end_matches('/'), random_suffix())
            });
        TestStorage {
            dir,
            database_url,
            blob_store,
        }
    }

    /// The embedded default in a temp dir, whatever the suite runs on (a migration's
    /// source).
    pub fn embedded() -> TestStorage {
        TestStorage {
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
            blob_store: None,
        }
    }

    /// The `--database-url` value in effect.
    pub fn database_url_spec(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite:{}",
                self.dir.path().join("imagestore.db").to_str().unwrap()
            )
        })
    }

    /// Runs one statement on the deployment's catalog through a connection of its own, as
    /// another process would; returns how many rows it changed.
    pub async fn run_sql(&self, sql: &str, params: &[Bind<'_>]) -> u64 {
        let url = self.database_url_spec();
        match url.strip_prefix("sqlite:") {
            Some(path) => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                // As the server's connections: a delete cascades as it does there.
                db.pragma_update(None, "foreign_keys", "ON").unwrap();
                let values: Vec<rusqlite::types::Value> = params
                    .iter()
                    .map(|param| match param {
                        Bind::Text(text) => rusqlite::types::Value::Text(text.to_string()),
                        Bind::Int(number) => rusqlite::types::Value::Integer(*number),
                    })
                    .collect();
                db.execute(sql, rusqlite::params_from_iter(values)).unwrap() as u64
            }
            None => {
                let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
                for param in params {
                    query = match param {
                        Bind::Text(text) => query.bind(text.to_string()),
                        Bind::Int(number) => query.bind(*number),
                    };
                }
                query.execute(&mut db).await.unwrap().rows_affected()
            }
        }
    }

    /// True when the catalog is PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.database_url.is_some()
    }

    /// True when the blobs live in a local directory (tests that look at files need it).
    pub fn local_blobs(&self) -> bool {
        self.blob_store.is_none()
    }

    /// The storage flags every command takes, naming this deployment.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.dir.path().to_str().unwrap().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_string(), url.clone()]);
        }
        if let Some(store) = &self.blob_store {
            args.extend(["--blob-store".to_string(), store.clone()]);
        }
        args
    }

    /// The `--blob-store` value in effect (the default directory when none was given).
    pub fn blob_store_spec(&self) -> String {
        self.blob_store
            .clone()
            .unwrap_or_else(|| self.dir.path().join("blobs").to_str().unwrap().to_string())
    }

    /// Every blob key in the deployment's store.
    pub async fn blob_keys(&self) -> Vec<String> {
        let store = BlobStore::open(&self.blob_store_spec()).unwrap();
        let mut keys: Vec<String> = store
            .list_under(None)
            .map_ok(|entry| entry.key)
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// Creates an empty database beside the one `IMAGESTORE_TEST_DATABASE_URL` names and
/// returns its URL.
async fn fresh_database() -> String {
    let admin_url = std::env::var("IMAGESTORE_TEST_DATABASE_URL")
        .expect("IMAGESTORE_TEST_CATALOG=postgres needs IMAGESTORE_TEST_DATABASE_URL");
    let without_query = admin_url.split('?').next().unwrap();
    let (server, base_name) = without_query
        .rsplit_once('/')
        .expect("a postgres URL ends with /database");
    let name = format!("{base_name}_{}", random_suffix());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{server}/{name}")
}
