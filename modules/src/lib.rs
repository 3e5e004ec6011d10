//! Parsing modules, one folder per data type (`<category>/<type>/`), and the registry the
//! worker dispatches through. Adding a type: a folder with the same shape as the others and
//! one line in `registry.rs`.

mod registry;

pub use registry::registry;
