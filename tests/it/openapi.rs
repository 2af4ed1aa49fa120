//! `/openapi.json` read as a client's tooling reads it, then held against the server.
//!
//! The document must be valid OpenAPI 3.1: it is validated against the OpenAPI
//! Initiative's JSON Schema for 3.1 (draft 2020-12, `$dynamicRef`), and beside it the rules
//! that schema cannot express are checked: operationIds unique, every response described,
//! a request body on every operation that reads one (uploads both raw and multipart, as
//! `http::upload` takes them), every path parameter declared, every `$ref` resolvable.
//! Then it must tell the truth: every operation is sent the requests clients get wrong (no
//! credential, a key without the scope, a body that is not what it should be), and every
//! status answered must be one the document lists for that operation.
//!
//! `tests/openapi/schema-3.1.json` is the OpenAPI Initiative's published schema
//! `https://spec.openapis.org/oas/3.1/schema/2022-10-07` (Apache License 2.0), as the
//! `openapi-spec-validator` 0.9.0 package on PyPI bundles it, unchanged.

use std::collections::{BTreeMap, BTreeSet};

use imagestore::domain::Scope;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::harness::TestServer;

const SCHEMA: &str = include_str!("../openapi/schema-3.1.json");

/// The methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Operations whose method usually carries a body but that read none: a session is made
/// from the Authorization header alone, and the server generates a signing secret.
const BODYLESS: [(&str, &str); 3] = [
    ("post", "/v1/sessions"),
    ("post", "/v1/environments/{envId}/signing-secrets"),
    (
        "post",
        "/v1/environments/{envId}/webhooks/{webhookId}/rotate-secret",
    ),
];

/// One operation of the document, with the parameters of its path item and its own.
struct Operation<'a> {
    path: &'a str,
    method: &'a str,
    op: &'a Value,
    params: Vec<&'a Value>,
}

impl Operation<'_> {
    fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

async fn document(server: &TestServer) -> Value {
    let response = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.expect("/openapi.json is JSON")
}

/// A `$ref` to a place in the same document followed, anything else as it is.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) if pointer.starts_with("#/") => doc.pointer(&pointer[1..]).unwrap_or(value),
        _ => value,
    }
}

fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut found = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return found;
    };
    for (path, item) in paths {
        let shared = item.get("parameters").and_then(Value::as_array);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let own = op.get("parameters").and_then(Value::as_array);
            let params = shared
                .into_iter()
                .chain(own)
                .flatten()
                .map(|p| resolve(doc, p))
                .collect();
            found.push(Operation {
                path,
                method,
                op,
                params,
            });
        }
    }
    found
}

/// Where the document breaks the OpenAPI 3.1 schema, one line per error.
fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the 3.1 schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the 3.1 schema compiles");
    validator
        .iter_errors(doc)
        .map(|error| format!("schema: at {:?}: {error}", error.instance_path().as_str()))
        .collect()
}

/// Where the document breaks the rules the schema cannot express.
fn rule_errors(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for operation in operations(doc) {
        let name = operation.name();
        match operation.op.get("operationId").and_then(Value::as_str) {
            Some(id) => ids.entry(id).or_default().push(name.clone()),
            None => errors.push(format!("{name}: no operationId")),
        }
        let responses = operation.op.get("responses").and_then(Value::as_object);
        for (status, response) in responses.into_iter().flatten() {
            let described = resolve(doc, response)
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            if !described {
                errors.push(format!("{name}: response {status} has no description"));
            }
        }
        errors.extend(body_errors(doc, &operation));
        errors.extend(path_parameter_errors(&operation));
    }
    for (id, users) in ids {
        if users.len() > 1 {
            errors.push(format!(
                "operationId {id:?} is used by {}",
                users.join(", ")
            ));
        }
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for target in refs {
        let resolves = target
            .strip_prefix('#')
            .is_some_and(|pointer| doc.pointer(pointer).is_some());
        if !resolves {
            errors.push(format!("$ref {target:?} does not resolve in the document"));
        }
    }
    errors
}

/// A body on every operation that reads one, each media type with a schema, and uploads
/// described both ways `http::upload` takes them: raw bytes and multipart.
fn body_errors(doc: &Value, operation: &Operation) -> Vec<String> {
    let name = operation.name();
    let mut errors = Vec::new();
    let reads_body = matches!(operation.method, "post" | "put" | "patch")
        && !BODYLESS.contains(&(operation.method, operation.path));
    let body = operation.op.get("requestBody").map(|b| resolve(doc, b));
    let content = body
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object);
    let Some(content) = content.filter(|c| !c.is_empty()) else {
        if reads_body {
            errors.push(format!("{name}: reads a body but documents no requestBody"));
        }
        return errors;
    };
    for (media, described) in content {
        if described.get("schema").is_none() {
            errors.push(format!("{name}: request body {media} has no schema"));
        }
    }
    let raw_image = content.keys().any(|m| m.starts_with("image/"));
    let multipart = content.contains_key("multipart/form-data");
    if raw_image != multipart {
        errors.push(format!(
            "{name}: an upload is taken raw or as multipart/form-data, the body documents one"
        ));
    }
    errors
}

/// Every `{name}` of the path declared as a required path parameter, and nothing else.
fn path_parameter_errors(operation: &Operation) -> Vec<String> {
    let name = operation.name();
    let in_template: BTreeSet<&str> = operation
        .path
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(param, _)| param))
        .collect();
    let mut errors = Vec::new();
    let mut declared = BTreeSet::new();
    for param in operation.params.iter().filter(|p| p["in"] == "path") {
        let param_name = param["name"].as_str().unwrap_or_default();
        declared.insert(param_name);
        if param["required"] != Value::Bool(true) {
            errors.push(format!(
                "{name}: path parameter {param_name} is not required"
            ));
        }
        if !in_template.contains(param_name) {
            errors.push(format!("{name}: declares {param_name}, not in the path"));
        }
    }
    for missing in in_template.difference(&declared) {
        errors.push(format!("{name}: path parameter {missing} is not declared"));
    }
    errors
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                refs.push(target);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    assert!(
        !operations(&doc).is_empty(),
        "the document lists no operation"
    );
    let mut errors = schema_errors(&doc);
    errors.extend(rule_errors(&doc));
    assert!(
        errors.is_empty(),
        "{} problems in /openapi.json:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn the_validator_refuses_what_openapi_3_1_refuses() {
    // The checks above must be able to fail: a response without a description, an
    // operationId used twice and an undeclared path parameter are each caught.
    let doc = serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a/{id}": {"get": {"operationId": "same", "responses": {"200": {}}}},
            "/b": {"post": {"operationId": "same", "responses": {"204": {"description": "ok"}}}}
        }
    });
    let schema = schema_errors(&doc);
    assert!(
        schema.iter().any(|e| e.contains("description")),
        "{schema:?}"
    );
    let rules = rule_errors(&doc).join("\n");
    for expected in [
        "response 200 has no description",
        "operationId \"same\" is used by",
        "path parameter id is not declared",
        "POST /b: reads a body",
    ] {
        assert!(rules.contains(expected), "{expected:?} not in:\n{rules}");
    }
}

/// The requests clients get wrong, sent to every documented operation: without a
/// credential (path values made from the parameters' types), then with an images:read,
/// an images:write and the admin key (an `envId` is then the key's own environment, so the
/// request passes the tenancy check and meets the handler's own), each with a bad body of
/// every media type the operation documents. Every status answered must be listed for its
/// operation, and none may be a server fault (5xx other than 503).
#[tokio::test]
async fn every_status_answered_to_a_wrong_request_is_documented() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let callers = [
        ("no credential", None),
        (
            "an images:read key",
            Some(server.key(server.env, &[Scope::ImagesRead]).await),
        ),
        (
            "an images:write key",
            Some(server.key(server.env, &[Scope::ImagesWrite]).await),
        ),
        ("the admin key", Some(server.token.clone())),
    ];
    let operations = operations(&doc);
    assert!(!operations.is_empty(), "the document lists no operation");
    let mut wrong = Vec::new();
    for operation in &operations {
        let method = Method::from_bytes(operation.method.to_uppercase().as_bytes()).unwrap();
        let media: Vec<Option<&str>> = match request_media(doc_body(&doc, operation)) {
            types if types.is_empty() => vec![None],
            types => types.into_iter().map(Some).collect(),
        };
        for (who, token) in &callers {
            let url = probe_url(&server, operation, token.is_some());
            for media in &media {
                let mut request = server.client.request(method.clone(), &url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(media) = media {
                    let (content_type, body) = bad_body(media);
                    request = request.header("Content-Type", content_type).body(body);
                }
                let status = request.send().await.unwrap().status().as_u16();
                let with = media
                    .map(|m| format!(" with a bad {m} body"))
                    .unwrap_or_default();
                let what = format!("{} ({url}) as {who}{with}: {status}", operation.name());
                if !documents(operation, status) {
                    wrong.push(format!("{what} is not documented"));
                }
                if status >= 500 && status != 503 {
                    wrong.push(format!("{what} is a server fault"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers break the document:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn doc_body<'a>(doc: &'a Value, operation: &Operation<'a>) -> Option<&'a Value> {
    operation.op.get("requestBody").map(|b| resolve(doc, b))
}

/// The media types a request body documents.
fn request_media(body: Option<&Value>) -> Vec<&str> {
    body.and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|content| content.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The operation's path with its parameters filled, and its required query parameters.
fn probe_url(server: &TestServer, operation: &Operation, keyed: bool) -> String {
    let mut path = operation.path.to_string();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for param in &operation.params {
        let name = param["name"].as_str().unwrap_or_default();
        let value = if keyed && name == "envId" {
            server.env.to_string()
        } else {
            value_of(param)
        };
        match param["in"].as_str() {
            Some("path") => path = path.replace(&format!("{{{name}}}"), &value),
            Some("query") if param["required"] == Value::Bool(true) => {
                query.append_pair(name, &value);
            }
            _ => {}
        }
    }
    let query = query.finish();
    if query.is_empty() {
        server.url(&path)
    } else {
        server.url(&format!("{path}?{query}"))
    }
}

/// A value of a parameter's documented type: a random UUID, 1, or "x".
fn value_of(param: &Value) -> String {
    let schema = &param["schema"];
    let is = |kind: &str| {
        schema["type"] == kind
            || schema["type"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == kind))
    };
    if schema["format"] == "uuid" {
        Uuid::new_v4().to_string()
    } else if is("integer") || is("number") {
        "1".into()
    } else {
        "x".into()
    }
}

/// A body for one documented media type, well framed but wrong, so that it reaches the
/// handler's own checks: a multipart file part that is no image, JSON cut short, bytes
/// that are no image.
fn bad_body(media: &str) -> (String, Vec<u8>) {
    if media.starts_with("multipart/") {
        let body = "--probe\r\nContent-Disposition: form-data; name=\"file\"; \
                    filename=\"x.jpg\"\r\n\r\nnot an image\r\n--probe--\r\n";
        ("multipart/form-data; boundary=probe".into(), body.into())
    } else if media.contains("json") {
        (media.into(), b"{\"truncated".to_vec())
    } else {
        (media.into(), b"not an image".to_vec())
    }
}

/// Whether the operation lists the status: exactly, as a range such as `4XX`, or by a
/// `default` answer.
fn documents(operation: &Operation, status: u16) -> bool {
    let Some(responses) = operation.op.get("responses").and_then(Value::as_object) else {
        return false;
    };
    let exact = status.to_string();
    let range = format!("{}XX", status / 100);
    responses
        .keys()
        .any(|key| *key == exact || key.eq_ignore_ascii_case(&range) || key == "default")
}
