//! The page shell every console page shares (head, header with sign-out, the section
//! navigation) and the small formatting helpers pages use, so that sizes, times and paths
//! read the same everywhere.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use uuid::Uuid;

use super::{CONSOLE, Notice, Signed, assets};
use crate::domain::Environment;

/// The sections of an environment, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Library,
    Upload,
    Presets,
    Keys,
    UploadTokens,
    Subjects,
    Webhooks,
    Audit,
    Environments,
}

const SECTIONS: [(Section, &str, &str); 9] = [
    (Section::Overview, "", "Overview"),
    (Section::Library, "/library", "Library"),
    (Section::Upload, "/upload", "Upload"),
    (Section::Presets, "/presets", "Presets"),
    (Section::Keys, "/keys", "Keys"),
    (Section::UploadTokens, "/upload-tokens", "Upload tokens"),
    (Section::Subjects, "/subjects", "Subjects"),
    (Section::Webhooks, "/webhooks", "Webhooks"),
    (Section::Audit, "/audit", "Audit log"),
];

/// The path of a page of environment `id`: `rest` is empty or starts with `/`.
pub fn env_path(id: Uuid, rest: &str) -> String {
    format!("{CONSOLE}/environments/{id}{rest}")
}

/// The `<head>`: assets from this origin only, and an empty data favicon so that the
/// browser asks for no `/favicon.ico`.
fn head(title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            @if let Some(csrf) = csrf { meta name="csrf-token" content=(csrf); }
            title { (title) " · imagestore console" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href=(assets::STYLESHEET.href());
            script src=(assets::SCRIPT.href()) defer {}
        }
    }
}

/// A page of a signed-in user. `environment` is the environment the page is about, whose
/// sections the navigation lists.
pub fn page(
    title: &str,
    signed: &Signed,
    environment: Option<&Environment>,
    current: Section,
    notice: Option<&Notice>,
    body: Markup,
) -> Markup {
    let operator = signed.principal.environment_id.is_none();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&signed.csrf)))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { a href=(CONSOLE) { "imagestore console" } }
                    span.muted {
                        @if operator { "Operator key" } @else { "Environment key" }
                        @if let Some(environment) = environment { " · " (environment.name) }
                    }
                    @if operator {
                        a href={ (CONSOLE) "/environments" } { "Environments" }
                    }
                    form method="post" action={ (CONSOLE) "/sign-out" } {
                        (csrf_field(signed))
                        button.secondary type="submit" { "Sign out" }
                    }
                }
                @if let Some(environment) = environment {
                    nav.sections aria-label="Environment sections" {
                        ul {
                            @for (section, rest, label) in SECTIONS {
                                li {
                                    a href=(env_path(environment.id, rest))
                                        aria-current=[(section == current).then_some("page")] {
                                        (label)
                                    }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if let Some(notice) = notice { (show_notice(notice)) }
                    (body)
                }
            }
        }
    }
}

/// A page without a session: signing in, or an error shown on its own.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top { span.brand { a href=(CONSOLE) { "imagestore console" } } }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

pub fn show_notice(notice: &Notice) -> Markup {
    html! {
        @match notice {
            Notice::Done(text) => p.notice.ok role="status" { (text) },
            Notice::Failed(text) => p.notice.error role="alert" { (text) },
        }
    }
}

/// The hidden field that carries the session's CSRF token in a form.
pub fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A secret shown once, named `what` (its field's label and its copy button's), with a
/// copy button.
pub fn shown_once(what: &str, id: &str, secret: &str) -> Markup {
    html! {
        div.card {
            p { strong { (what) } " is shown only now; copy it somewhere safe." }
            div.secret {
                label for=(id) { (what) }
                input #(id) type="text" readonly value=(secret);
                button.secondary type="button" data-copy=(secret) data-copy-field=(id) {
                    "Copy " (what)
                }
            }
        }
    }
}

/// The base of the absolute URLs a page shows for copying (hrefs, signed URLs, upload
/// URLs): the deployment's public URL, unless that is a loopback address (the default,
/// made from `--listen`) and the browser reached the server by another name, such as
/// `localhost`: then the name the browser used, so that what is copied works from there.
pub fn shown_base(public_url: &str, headers: &axum::http::HeaderMap) -> String {
    let public = public_url.trim_end_matches('/');
    let Some((scheme, authority)) = public.split_once("://") else {
        return public.to_string();
    };
    let host = authority.split('/').next().unwrap_or_default();
    let loopback = ["127.0.0.1", "[::1]", "localhost", "0.0.0.0", "[::]"]
        .iter()
        .any(|name| host == *name || host.starts_with(&format!("{name}:")));
    let asked = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|asked| !asked.is_empty() && asked.bytes().all(|b| b.is_ascii_graphic()));
    match asked {
        Some(asked) if loopback && asked != host && !authority.contains('/') => {
            format!("{scheme}://{asked}")
        }
        _ => public.to_string(),
    }
}

/// A byte count for people: `1.4 MB`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A time for people, in UTC to the second.
pub fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_follow_the_name_the_browser_used_only_for_a_loopback_default() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", "localhost:8080".parse().unwrap());
        assert_eq!(
            shown_base("http://127.0.0.1:8080", &headers),
            "http://localhost:8080"
        );
        assert_eq!(
            shown_base("https://img.example", &headers),
            "https://img.example"
        );
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            shown_base("http://127.0.0.1:8080/", &headers),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            shown_base("http://127.0.0.1:8080", &Default::default()),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(999), "999 bytes");
        assert_eq!(bytes(1_400_000), "1.4 MB");
        assert_eq!(bytes(2_000_000_000_000_000), "2000.0 TB");
    }
}
