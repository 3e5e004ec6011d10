//! The repository's `config.json`, loaded once, for the targets that route or validate.

use std::sync::LazyLock;

pub static CONFIG: LazyLock<shared_modules::config::Config> = LazyLock::new(|| {
    shared_modules::config::load_from_str(
        include_str!("../../config.json"),
        std::path::Path::new("config.json"),
        &[],
    )
    .expect("the shipped config loads")
});
