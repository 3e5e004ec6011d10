use shared_modules::jobs::Registry;

/// Every data type the DataProcessor can process, keyed by (category, type).
pub fn registry() -> Registry {
    Registry::new()
}
