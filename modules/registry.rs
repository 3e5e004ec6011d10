use crate::hydrastor::{
    alert::AlertModule, system_report::SystemReportModule, veritas2hview::Veritas2HviewModule,
};
use shared_modules::jobs::Registry;

/// Every data type the DataProcessor can process, keyed by (category, type).
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    let registered = registry
        .register("hydrastor", "system_report", SystemReportModule)
        .and_then(|r| r.register("hydrastor", "alert", AlertModule))
        .and_then(|r| r.register("hydrastor", "veritas2hview", Veritas2HviewModule));
    if let Err(e) = registered {
        // Two modules claiming one type is a programming error caught by the tests.
        panic!("{e}");
    }
    registry
}
