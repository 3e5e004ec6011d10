//! A progress bar on stderr for long operations: redrawn in place on a terminal, a line
//! every 10 % otherwise (logs, scripts).

use std::io::{IsTerminal, Write};

pub struct Progress {
    what: String,
    total: usize,
    done: usize,
    terminal: bool,
    last_decile: usize,
}

impl Progress {
    pub fn new(what: &str, total: usize) -> Self {
        Self {
            what: what.to_string(),
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
            last_decile: 0,
        }
    }

    pub fn step(&mut self) {
        self.done += 1;
        let total = self.total.max(1);
        let mut err = std::io::stderr();
        if self.terminal {
            let filled = self.done * 30 / total;
            let _ = write!(
                err,
                "\r{} [{}{}] {}/{}",
                self.what,
                "#".repeat(filled),
                " ".repeat(30 - filled),
                self.done,
                self.total
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let decile = self.done * 10 / total;
            if decile > self.last_decile || self.done == self.total {
                self.last_decile = decile;
                let _ = writeln!(err, "{}: {}/{}", self.what, self.done, self.total);
            }
        }
    }
}
