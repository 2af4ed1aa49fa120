//! The writer's groups: one job's failure costs no other job its commit.

use tokio::sync::oneshot;
use uuid::Uuid;

use super::{Job, Pending, commit_group, open_writer};
use crate::storage::catalog::seeded::Seeded;

/// Jobs committed as one group are answered one by one; a job that fails (an id already
/// taken) fails alone and leaves nothing behind, and every other job of its group is
/// committed.
#[tokio::test]
async fn a_bad_job_fails_alone_and_its_group_is_still_committed() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = Seeded::open(dir.path()).await;
    let (catalog, env) = (&seeded.catalog, seeded.environment.id);
    let taken = seeded.environment.id;
    // Each job makes an environment and a key in it; job 7's environment id is taken,
    // and its key (written first) must not survive its failure.
    let jobs: Vec<(Uuid, Uuid)> = (0..20)
        .map(|i| {
            let id = if i == 7 { taken } else { Uuid::new_v4() };
            (Uuid::new_v4(), id)
        })
        .collect();
    // The group is handed to the writer's commit directly, so that all twenty jobs are
    // certainly in it (the thread would take whatever had arrived so far).
    let mut connection = open_writer(&dir.path().join("c.db")).unwrap();
    let mut answers = Vec::new();
    let mut group: Vec<Box<dyn Job>> = Vec::new();
    for &(key, environment) in &jobs {
        let (reply, answer) = oneshot::channel();
        answers.push(answer);
        let work = move |connection: &rusqlite::Connection| {
            connection.execute(
                "INSERT INTO credentials (id, environment_id, scopes, secret_hash, created_at) \
                 VALUES (?1, ?2, 'admin', x'00', 0)",
                [key.to_string(), env.to_string()],
            )?;
            connection.execute(
                "INSERT INTO environments (id, name, created_at) VALUES (?1, 'n', 0)",
                [environment.to_string()],
            )?;
            Ok(environment)
        };
        group.push(Box::new(Pending {
            work,
            result: None,
            reply,
        }));
    }
    commit_group(&mut connection, &mut group);
    assert!(group.is_empty());
    for (i, (answer, (key, environment))) in answers.into_iter().zip(&jobs).enumerate() {
        let result = answer.await.expect("every job is answered");
        let key_kept = catalog.credential(*key).await.unwrap().is_some();
        if i == 7 {
            assert!(
                result.is_err(),
                "a second environment with a taken id was made"
            );
            assert!(!key_kept, "the failed job's first statement was kept");
            continue;
        }
        assert_eq!(result.expect("a good job was refused"), *environment);
        assert!(key_kept, "job {i} was not committed");
        assert!(catalog.environment(*environment).await.unwrap().is_some());
    }
}
