//! The one integration-test binary: every test starts the real server (in-process on
//! 127.0.0.1:0, or the built binary where the process itself is under test) and talks
//! HTTP to it.

mod access;
mod admin_beside_load;
mod backends;
mod bombs;
mod browser;
mod catalog_upgrade;
mod cluster;
mod console;
mod console_browser;
mod control_plane;
mod dialects;
mod fuzz_regressions;
mod governance;
mod harness;
mod hostile;
mod href_access;
mod integrity;
mod lifecycle;
mod migration;
mod openapi;
mod ops;
mod process;
mod proxy;
mod rendition_budget;
mod rendition_caching;
mod renditions;
mod revocation;
mod scaleout;
mod serving;
mod small_holes;
mod tenant_matrix;
mod tidy;
mod upload;
mod webhooks;
