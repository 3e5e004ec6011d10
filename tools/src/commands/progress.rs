//! Progress on stderr for long operations: an indicatif bar redrawn in place on a terminal;
//! elsewhere (logs, scripts) a line every 10 % and at the end.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    what: String,
    total: u64,
    done: u64,
    bar: Option<ProgressBar>,
    last_decile: u64,
}

impl Progress {
    pub fn new(what: &str, total: usize) -> Self {
        let total = total as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-");
            bar.set_style(style);
            bar.set_prefix(what.to_string());
            bar
        });
        Self {
            what: what.to_string(),
            total,
            done: 0,
            bar,
            last_decile: 0,
        }
    }

    /// Moves to `done` of the total, with a short note (`3 done, 1 error`).
    pub fn set(&mut self, done: usize, note: &str) {
        self.done = done as u64;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done);
                bar.set_message(note.to_string());
                if self.done >= self.total {
                    bar.finish();
                }
            }
            None => {
                let decile = self.done * 10 / self.total.max(1);
                if decile > self.last_decile || self.done >= self.total {
                    self.last_decile = decile;
                    eprintln!("{}: {}/{} {note}", self.what, self.done, self.total);
                }
            }
        }
    }

    pub fn step(&mut self) {
        self.set(self.done as usize + 1, "");
    }
}
