//! NEC HYDRAstor: system reports and alerts by e-mail (`system_report/`, `alert/`), and
//! NetBackup exports correlated to grids (`veritas2hview/`). Shared here: finding the text in
//! a stored mail, reading its sections, the value formats, and each grid's status
//! (`grid_status`) for the console and the metrics.

pub mod alert;
pub mod grid_status;
pub mod html;
pub mod sections;
pub mod system_report;
pub mod text;
pub mod values;
pub mod veritas2hview;

use chrono::FixedOffset;

/// The zone of times written without an offset. The contract's default is UTC; a
/// per-grid zone is not configurable yet.
pub fn grid_zone() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!("zero offset is valid"))
}
