//! The domain values' own validation: subjects, scopes, principals.

use super::*;

#[test]
fn subjects_accept_kind_colon_id_only() {
    assert!(Subject::parse("user:42").is_ok());
    assert!(Subject::parse("person:a.b@c-d_e").is_ok());
    for bad in [
        "",
        "user",
        ":42",
        "user:",
        "User:1",
        "user:4 2",
        "user:../x",
        "u:a/b",
    ] {
        assert!(Subject::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn scopes_parse_and_admin_implies_all() {
    let scopes = Scope::parse_list("images:read, admin").unwrap();
    assert_eq!(scopes, vec![Scope::ImagesRead, Scope::Admin]);
    assert!(Scope::parse_list("images:delete").is_err());
    let env = Uuid::new_v4();
    let admin = Principal {
        environment_id: Some(env),
        credential_id: env,
        scopes,
    };
    assert!(admin.require(env, Scope::ImagesWrite).is_ok());
    let reader = Principal {
        scopes: vec![Scope::ImagesRead],
        ..admin.clone()
    };
    assert!(matches!(
        reader.require(env, Scope::ImagesWrite),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        reader.require(Uuid::new_v4(), Scope::ImagesRead),
        Err(Error::NotFound(_))
    ));
}
