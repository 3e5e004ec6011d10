/// Why an upload was refused (each rule its own variant) or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("archive refused: entry `{0}` has an absolute path")]
    AbsolutePath(String),
    #[error("archive refused: entry `{0}` climbs out of the archive with `..`")]
    ParentTraversal(String),
    #[error("archive refused: entry `{0}` uses a drive letter or a backslash path")]
    WindowsPath(String),
    #[error("archive refused: entry `{0}` is a symbolic link")]
    Symlink(String),
    #[error("archive refused: entry `{0}` is a hard link")]
    HardLink(String),
    #[error("archive refused: entry `{0}` is a device, FIFO or other special file")]
    SpecialFile(String),
    #[error("archive refused: zip entries `{0}` and `{1}` overlap")]
    OverlappingEntries(String, String),
    #[error("archive refused: more than {limit} entries (at `{name}`)")]
    TooManyEntries { name: String, limit: u64 },
    #[error("archive refused: more than {limit} bytes once decompressed (at `{name}`)")]
    TooLarge { name: String, limit: u64 },
    #[error(
        "archive refused: `{name}` expands {ratio}:1 (limit {limit}:1); no real export compresses that well"
    )]
    TooCompressed {
        name: String,
        ratio: u64,
        limit: u64,
    },
    #[error("extraction stopped: the job was cancelled")]
    Cancelled,
    #[error("archive refused: entry `{name}` is {depth} directories deep (limit {limit})")]
    TooDeep {
        name: String,
        depth: usize,
        limit: usize,
    },
    #[error("archive refused: `{name}` is an archive nested more than {limit} levels deep")]
    NestedTooDeep { name: String, limit: usize },
    #[error("`{name}` is not a readable {format} archive: {reason}")]
    Corrupt {
        name: String,
        format: &'static str,
        reason: String,
    },
    #[error("cannot write the extracted files: {0}")]
    Io(#[from] std::io::Error),
}

impl ExtractError {
    pub(crate) fn corrupt(
        name: &str,
        format: &'static str,
        reason: impl std::fmt::Display,
    ) -> Self {
        ExtractError::Corrupt {
            name: name.to_string(),
            format,
            reason: reason.to_string(),
        }
    }

    /// Bad input (refused or unreadable): no retry. Only a failing disk is worth retrying.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, ExtractError::Io(_))
    }
}
