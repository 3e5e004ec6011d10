//! `bpdbjobs -report -all_columns` and `-most_columns`: one job per record, comma separated,
//! `\,` a literal comma and `\\` a literal backslash, no quoting. The record walks
//! 31 head fields, a file list (`filelistcount` entries), try blocks (`trycount` × 9 fields,
//! the status lines, 2 fields), then a tail whose length varies by release (known names
//! first, the rest kept by position). `-most_columns` is the same walk with both counts 0.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// Splits on unescaped commas; `\,` → `,`, `\\` → `\`, any other `\x` is kept as is.
/// Fields are borrowed from the line unless an escape had to be undone.
pub fn split(line: &str) -> Vec<Cow<'_, str>> {
    if !line.contains('\\') {
        return line.split(',').map(Cow::Borrowed).collect();
    }
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',') | Some('\\')) => {
                current.push(chars.next().unwrap_or('\\'))
            }
            ',' => fields.push(Cow::Owned(std::mem::take(&mut current))),
            _ => current.push(c),
        }
    }
    fields.push(Cow::Owned(current));
    fields
}

const HEAD: usize = 31;
const TAIL_NAMES: [&str; 21] = [
    "parentjob",
    "kbpersec",
    "copy",
    "robot",
    "vault",
    "profile",
    "session",
    "ejecttapes",
    "srcstunit",
    "srcserver",
    "srcmedia",
    "dstmedia",
    "stream",
    "suspendable",
    "resumable",
    "restartable",
    "datamovement",
    "snapshot",
    "backupid",
    "killable",
    "controllinghost",
];
/// In `-most_columns` output of recent releases, the field after `controllinghost` + 3 is the
/// deduplication rate in percent (nbu-cli's `dedupRatio`, e.g. 89.699997).
const MOST_COLUMNS_DEDUP_AT: usize = 57;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    pub job_id: i64,
    pub job_type: Option<i32>,
    pub state: Option<i32>,
    pub status: Option<i32>,
    pub policy: Option<String>,
    pub schedule: Option<String>,
    pub client: Option<String>,
    pub media_server: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub elapsed_seconds: Option<i64>,
    pub ended_at: Option<DateTime<Utc>>,
    pub storage_unit: Option<String>,
    pub kbytes: Option<i64>,
    pub files: Option<i64>,
    pub percent: Option<i32>,
    pub master_server: String,
    pub parent_job_id: Option<i64>,
    pub kbpersec: Option<i64>,
    pub backup_id: Option<String>,
    pub dedup_ratio: Option<f64>,
    pub try_count: Option<i32>,
    pub file_list: Vec<String>,
    /// Known tail fields not in a column, and every field past the known names by position.
    pub extra: Value,
    /// Stored as rows of their own (`netbackup_job_tries`).
    #[serde(skip)]
    pub tries: Vec<Try>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Try {
    /// The job's key, repeated so a try is a row of its own.
    pub master_server: String,
    pub job_id: i64,
    pub try_number: i32,
    pub pid: Option<i64>,
    pub storage_unit: Option<String>,
    pub server: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub elapsed_seconds: Option<i64>,
    pub ended_at: Option<DateTime<Utc>>,
    pub status: Option<i32>,
    pub status_description: Option<String>,
    pub status_lines: Vec<String>,
    pub kbytes_written: Option<i64>,
    pub files_written: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The record ends before its file list or try blocks do: it may continue on the next
    /// line (a newline inside a status text).
    Incomplete,
    Invalid(String),
}

fn text(f: &str) -> Option<String> {
    let t = f.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn int<T: std::str::FromStr>(f: &str, name: &str) -> Result<Option<T>, WalkError> {
    let t = f.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| WalkError::Invalid(format!("{name} `{t}` is not a number")))
}

/// Epoch seconds; 0 (never) and empty are NULL.
fn epoch(f: &str, name: &str) -> Result<Option<DateTime<Utc>>, WalkError> {
    match int::<i64>(f, name)? {
        None | Some(0) => Ok(None),
        Some(s) => DateTime::from_timestamp(s, 0)
            .map(Some)
            .ok_or_else(|| WalkError::Invalid(format!("{name} `{s}` is out of range"))),
    }
}

/// Deduplication rate in percent → ratio N (as in N:1): 90 % → 10.
pub fn ratio_from_percent(percent: f64) -> Option<f64> {
    (percent > 0.0 && percent < 100.0).then(|| 100.0 / (100.0 - percent))
}

/// `dedup: 89.7%` in a PureDisk (MSDP) status line of the last try that has one.
fn dedup_from_status_lines(tries: &[Try]) -> Option<f64> {
    tries
        .iter()
        .rev()
        .flat_map(|t| t.status_lines.iter().rev())
        .find_map(|line| {
            let at = line.find("dedup:")?;
            let number: String = line[at + 6..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            number.parse().ok().and_then(ratio_from_percent)
        })
}

struct Cursor<'a> {
    fields: &'a [Cow<'a, str>],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Result<&'a str, WalkError> {
        let f = self.fields.get(self.at).ok_or(WalkError::Incomplete)?;
        self.at += 1;
        Ok(f)
    }

    fn count(&mut self, name: &str) -> Result<usize, WalkError> {
        let n = int::<usize>(self.next()?, name)?.unwrap_or(0);
        if n > self.fields.len() {
            return Err(WalkError::Invalid(format!(
                "{name} {n} is more than the record has fields"
            )));
        }
        Ok(n)
    }
}

/// Walks one record (already split).
pub fn walk(fields: &[Cow<'_, str>]) -> Result<Job, WalkError> {
    if fields.len() < HEAD + 2 {
        return Err(WalkError::Incomplete);
    }
    let h = &fields[..HEAD];
    let job_id =
        int::<i64>(&h[0], "jobid")?.ok_or_else(|| WalkError::Invalid("empty jobid".into()))?;
    let master_server =
        text(&h[25]).ok_or_else(|| WalkError::Invalid("empty masterserver".into()))?;
    let mut c = Cursor { fields, at: HEAD };
    let file_count = c.count("filelistcount")?;
    let mut file_list = Vec::with_capacity(file_count);
    for _ in 0..file_count {
        file_list.push(c.next()?.to_string());
    }
    let try_count = c.count("trycount")?;
    let mut tries = Vec::with_capacity(try_count);
    for n in 1..=try_count {
        let pid = int(c.next()?, "trypid")?;
        let storage_unit = text(c.next()?);
        let server = text(c.next()?);
        let started_at = epoch(c.next()?, "trystarted")?;
        let elapsed_seconds = int(c.next()?, "tryelapsed")?;
        let ended_at = epoch(c.next()?, "tryended")?;
        let status = int(c.next()?, "trystatus")?;
        let status_description = text(c.next()?);
        let lines = c.count("trystatuscount")?;
        let mut status_lines = Vec::with_capacity(lines);
        for _ in 0..lines {
            status_lines.push(c.next()?.to_string());
        }
        let kbytes_written = int(c.next()?, "trybyteswritten")?;
        let files_written = int(c.next()?, "tryfileswritten")?;
        tries.push(Try {
            master_server: master_server.clone(),
            job_id,
            try_number: i32::try_from(n).unwrap_or(i32::MAX),
            pid,
            storage_unit,
            server,
            started_at,
            elapsed_seconds,
            ended_at,
            status,
            status_description,
            status_lines,
            kbytes_written,
            files_written,
        });
    }
    // The tail: whatever is left, possibly cut short.
    let tail = &fields[c.at..];
    let named = |name: &str| {
        TAIL_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| tail.get(i))
            .map(|f| f.as_ref())
            .unwrap_or("")
    };
    let mut extra = serde_json::Map::new();
    for (name, value) in TAIL_NAMES.iter().zip(tail) {
        if !["parentjob", "kbpersec", "backupid"].contains(name) && !value.trim().is_empty() {
            extra.insert((*name).to_string(), Value::String(value.to_string()));
        }
    }
    let beyond: Vec<Value> = tail
        .iter()
        .skip(TAIL_NAMES.len())
        .map(|v| Value::String(v.to_string()))
        .collect();
    let most_columns = file_count == 0 && try_count == 0;
    let dedup_ratio = if most_columns {
        fields
            .get(MOST_COLUMNS_DEDUP_AT)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(ratio_from_percent)
    } else {
        dedup_from_status_lines(&tries)
    };
    if !beyond.is_empty() {
        extra.insert("positional".into(), Value::Array(beyond));
    }
    Ok(Job {
        job_id,
        job_type: int(&h[1], "jobtype")?,
        state: int(&h[2], "state")?,
        status: int(&h[3], "status")?,
        policy: text(&h[4]),
        schedule: text(&h[5]),
        client: text(&h[6]),
        media_server: text(&h[7]),
        started_at: epoch(&h[8], "started")?,
        elapsed_seconds: int(&h[9], "elapsed")?,
        ended_at: epoch(&h[10], "ended")?,
        storage_unit: text(&h[11]),
        kbytes: int(&h[14], "kbytes")?,
        files: int(&h[15], "files")?,
        percent: int(&h[17], "percent")?,
        master_server,
        parent_job_id: int(named("parentjob"), "parentjob")?,
        kbpersec: int(named("kbpersec"), "kbpersec")?,
        backup_id: text(named("backupid")),
        dedup_ratio,
        try_count: if most_columns {
            int(&h[12], "try")?
        } else {
            i32::try_from(try_count).ok()
        },
        file_list,
        extra: Value::Object(extra),
        tries,
    })
}

/// Whether a line starts a record (`^\d+,`).
pub fn starts_record(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && line.as_bytes().get(digits) == Some(&b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_literal_characters() {
        assert_eq!(split(r"a,b\,c,d\\,e"), ["a", "b,c", r"d\", "e"]);
        assert_eq!(split(r#"x\y,"q""#), [r"x\y", "\"q\""]);
    }

    #[test]
    fn the_restarted_job_sample_walks_with_a_truncated_tail() {
        let line = "601184,,,,,,,,0000000000,0000000000,0000000000,,,,,,,0,,,,,,,,master01,,,,0,0,0,1,0,,,0000000000,0000000000,0000000000,,,1,07/16/16 17:53:38 - Job 601184 restarted as job 601216,0,0,,,,,";
        let job = walk(&split(line)).unwrap();
        assert_eq!(job.job_id, 601184);
        assert_eq!((job.job_type, job.state, job.status), (None, None, None));
        assert_eq!(job.master_server, "master01");
        assert_eq!(job.started_at, None);
        assert_eq!(job.try_count, Some(1));
        assert_eq!(
            job.tries[0].status_lines,
            ["07/16/16 17:53:38 - Job 601184 restarted as job 601216"]
        );
        assert_eq!(job.parent_job_id, None);
    }

    #[test]
    fn a_record_cut_inside_its_tries_is_incomplete() {
        let line = "1,0,3,0,p,s,c,m,1,2,3,stu,1,,10,1,,100,5,root,1,0,0,0,,master,1,1,0,,,0,1,7,stu,m,1,2,3,0,ok,2,first line";
        assert_eq!(walk(&split(line)), Err(WalkError::Incomplete));
    }

    #[test]
    fn msdp_dedup_in_a_status_line_gives_the_ratio() {
        assert_eq!(ratio_from_percent(90.0), Some(10.0));
        assert_eq!(ratio_from_percent(0.0), None);
        let t = Try {
            master_server: "m".into(), job_id: 1, try_number: 1, pid: None, storage_unit: None, server: None, started_at: None, elapsed_seconds: None,
            ended_at: None, status: None, status_description: None, kbytes_written: None, files_written: None,
            status_lines: vec!["Report=PDDO Stats for (h): scanned: 100 KB, CR sent: 10 KB, dedup: 75.0%, cache hits: 0".into()],
        };
        assert_eq!(dedup_from_status_lines(&[t]), Some(4.0));
    }
}
