//! The vendor dialects, each unchanged from its vendor's documents: QuestionPro's user
//! images, SuperOffice's `Person/{id}/Image`, Akana's dropbox. Each is a thin adapter over
//! the service, with its own error shape decided by its `impl Dialect` (see
//! `http::dialect`).

pub mod akana;
pub mod questionpro;
pub mod superoffice;
