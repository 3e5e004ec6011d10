//! Parsing modules, one folder per data type (`<category>/<type>/`, each with its parser,
//! store, fixtures and README), and the registry the worker dispatches through. Adding a
//! type: a folder shaped like the others and one line in `registry.rs`. Every store writes
//! its rows through `upsert` (one builder for the "newest report wins" upsert).

pub mod hydrastor;
mod registry;
pub mod upsert;

pub use registry::registry;
