//! Keys are revocable by design: a key deleted or expired in the catalog by anyone (here a
//! connection of the test's own, as another process or an operator's tool would be) is
//! refused by every instance within one second, and so is every session made from it,
//! while a key that is still valid keeps working everywhere.

use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use crate::backends::Bind;
use crate::harness::TestServer;
use imagestore::domain::Scope;

/// The credential id inside a token (`isk_<id>_<secret>`).
fn credential_id(token: &str) -> Uuid {
    Uuid::parse_str(token.split('_').nth(1).unwrap()).unwrap()
}

/// The status of listing images on `server` with the bearer `token`.
async fn list_with_key(server: &TestServer, token: &str) -> u16 {
    let response = server
        .client
        .get(server.images_url())
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The status of listing images on `server` with a session `cookie`.
async fn list_with_session(server: &TestServer, cookie: &str) -> u16 {
    let response = server
        .client
        .get(server.images_url())
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Runs one statement on the deployment's catalog through a connection of its own.
async fn run_sql(server: &TestServer, sql: &str, id: Uuid, millis: Option<i64>) {
    let id = id.to_string();
    let params = match millis {
        Some(millis) => vec![Bind::Int(millis), Bind::Text(&id)],
        None => vec![Bind::Text(&id)],
    };
    assert_eq!(server.storage.run_sql(sql, &params).await, 1, "{sql}");
}

#[tokio::test]
async fn a_key_deleted_or_expired_elsewhere_is_refused_everywhere_within_a_second() {
    let first = TestServer::start().await;
    let second = first.another_instance().await;
    let read = [Scope::ImagesRead];
    let deleted = first.key(first.env, &read).await;
    let expired = first.key(first.env, &read).await;
    let expiring_later = first.key(first.env, &read).await;
    // Every instance has used (and so remembered) every key, and each key made a session.
    let mut sessions = Vec::new();
    for server in [&first, &second] {
        for token in [&deleted, &expired, &expiring_later] {
            assert_eq!(list_with_key(server, token).await, 200);
            let (cookie, _) = server.session_of(token).await;
            assert_eq!(list_with_session(server, &cookie).await, 200);
            sessions.push((server, token.clone(), cookie));
        }
    }

    let changed = Instant::now();
    run_sql(
        &first,
        "DELETE FROM credentials WHERE id = $1",
        credential_id(&deleted),
        None,
    )
    .await;
    let past = Utc::now().timestamp_millis() - 1;
    let later = Utc::now().timestamp_millis() + 3_600_000;
    let expire = "UPDATE credentials SET expires_at = $1 WHERE id = $2";
    run_sql(&first, expire, credential_id(&expired), Some(past)).await;
    run_sql(&first, expire, credential_id(&expiring_later), Some(later)).await;
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(changed.elapsed())).await;

    for (server, token, cookie) in &sessions {
        let expected = if *token == expiring_later { 200 } else { 401 };
        assert_eq!(
            list_with_key(server, token).await,
            expected,
            "{}",
            server.base
        );
        assert_eq!(
            list_with_session(server, cookie).await,
            expected,
            "{}",
            server.base
        );
    }
}
