//! `bpimagelist -l`: an `IMAGE` line (space separated, its length grows by release, so only
//! the leading positions are read), a `HISTO` line, then one `FRAG` line per fragment.
//! `*NULL*` is NULL.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Image {
    pub backup_id: String,
    pub client: Option<String>,
    pub policy: Option<String>,
    pub schedule_label: Option<String>,
    pub schedule_type: Option<i32>,
    pub backup_time: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
    pub kbytes: Option<i64>,
    pub num_files: Option<i64>,
    pub copies: Option<i32>,
    pub num_fragments: Option<i32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fragment {
    pub backup_id: String,
    pub copy_number: i32,
    pub fragment_number: i32,
    pub kbytes: Option<i64>,
    pub media_type: Option<i32>,
    pub id_path: Option<String>,
    pub host: Option<String>,
    pub media_descriptor: Option<String>,
}

fn value(tokens: &[&str], i: usize) -> Option<String> {
    tokens
        .get(i)
        .filter(|t| **t != "*NULL*" && !t.is_empty())
        .map(|t| t.to_string())
}

fn number<T: std::str::FromStr>(
    tokens: &[&str],
    i: usize,
    name: &str,
) -> Result<Option<T>, String> {
    match value(tokens, i) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} `{t}` is not a number")),
    }
}

fn epoch(tokens: &[&str], i: usize, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    Ok(number::<i64>(tokens, i, name)?
        .filter(|s| *s > 0)
        .and_then(|s| DateTime::from_timestamp(s, 0)))
}

pub fn image(line: &str) -> Result<Image, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 22 {
        return Err(format!(
            "IMAGE line has {} fields; at least 22 expected",
            t.len()
        ));
    }
    Ok(Image {
        backup_id: value(&t, 5).ok_or("IMAGE line has no backup id")?,
        client: value(&t, 1),
        policy: value(&t, 6),
        schedule_label: value(&t, 10),
        schedule_type: number(&t, 11, "sched_type")?,
        backup_time: epoch(&t, 13, "backup_time")?,
        expiration: epoch(&t, 15, "expiration")?,
        kbytes: number(&t, 18, "kbytes")?,
        num_files: number(&t, 19, "num_files")?,
        copies: number(&t, 20, "copies")?,
        num_fragments: number(&t, 21, "num_fragments")?,
    })
}

pub fn fragment(line: &str, backup_id: &str) -> Result<Fragment, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 16 {
        return Err(format!(
            "FRAG line has {} fields; at least 16 expected",
            t.len()
        ));
    }
    Ok(Fragment {
        backup_id: backup_id.to_string(),
        copy_number: number(&t, 1, "copy_num")?.ok_or("FRAG line has no copy number")?,
        fragment_number: number(&t, 2, "frag_num")?.ok_or("FRAG line has no fragment number")?,
        kbytes: number(&t, 3, "kilobytes")?,
        media_type: number(&t, 5, "media_type")?,
        id_path: value(&t, 8),
        host: value(&t, 9),
        media_descriptor: value(&t, 15),
    })
}
