use crate::hydrastor::{
    alert::AlertModule, system_report::SystemReportModule, veritas2hview::Veritas2HviewModule,
};
use shared_modules::jobs::Registry;
use std::sync::Arc;

/// Every data type the DataProcessor can process, keyed by (category, type).
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("hydrastor", "system_report", Arc::new(SystemReportModule));
    registry.register("hydrastor", "alert", Arc::new(AlertModule));
    registry.register("hydrastor", "veritas2hview", Arc::new(Veritas2HviewModule));
    registry
}
