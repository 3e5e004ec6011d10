//! The bpdbjobs records already stored as they are, so that a daily re-export skips them
//! before they are parsed. Each `netbackup_jobs` row keeps the digest of the record it was
//! written from (its tries keep the same one); loading the digests of a customer's grid
//! once is one scan of each table, where checking each parsed record cost a primary-key
//! probe, and parsing cost more than both. A record whose digest is here was stored from
//! exactly this text for this grid: its job row and tries would be written as they are.

use super::digest::Digest;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{HashMap, HashSet};

/// At most this many digests are held (~30 bytes each): past it, the records not held are
/// parsed and checked against the table batch by batch, as every record once was.
pub const MOST_KNOWN: i64 = 4_000_000;

#[derive(Default)]
pub struct KnownRecords {
    /// Record digest → the NetBackup job id of its row.
    jobs_by_digest: HashMap<Digest, i64>,
    /// Loaded from the table (the default knows nothing, and is not complete).
    loaded: bool,
    /// Job ids this file wrote: a known record of one of them is not skipped, so that the
    /// last record of a job listed twice is the one that stays.
    written: HashSet<i64>,
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Bytea)]
    row_digest: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    job_id: i64,
}

impl KnownRecords {
    /// The records stored for `customer`'s `grid` (rows of another grid are not known: a
    /// record moved to this grid is written again).
    pub async fn load(
        conn: &mut AsyncPgConnection,
        customer: &str,
        grid: &str,
    ) -> diesel::QueryResult<KnownRecords> {
        // A job whose tries do not all carry its digest was written in part by something
        // else (an older build of the same release upserts a changed try and leaves the job
        // row): its record is not known, and is written again.
        let stored: Vec<Stored> = diesel::sql_query(
            "SELECT j.row_digest, j.job_id FROM netbackup_jobs j
             WHERE j.customer = $1 AND j.grid_name = $2 AND j.row_digest IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM netbackup_job_tries t
                               WHERE t.customer = j.customer AND t.master_server = j.master_server
                                 AND t.job_id = j.job_id
                                 AND t.row_digest IS DISTINCT FROM j.row_digest)
             LIMIT $3",
        )
        .bind::<Text, _>(customer)
        .bind::<Text, _>(grid)
        .bind::<BigInt, _>(MOST_KNOWN)
        .load(conn)
        .await?;
        let jobs_by_digest = stored
            .into_iter()
            .filter_map(|s| Some((Digest::try_from(s.row_digest.as_slice()).ok()?, s.job_id)))
            .collect();
        Ok(KnownRecords {
            jobs_by_digest,
            loaded: true,
            written: HashSet::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.jobs_by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs_by_digest.is_empty()
    }

    /// Whether every stored record of the grid is held (none was left out past
    /// `MOST_KNOWN`, and this was loaded): a record not held is then not stored as it is.
    pub fn complete(&self) -> bool {
        self.loaded && (self.len() as i64) < MOST_KNOWN
    }

    /// Whether the record of this digest is stored as it is and this file wrote no other
    /// record of its job: then it needs no parsing and no writing.
    pub fn unchanged(&self, record: &Digest) -> bool {
        self.jobs_by_digest
            .get(record)
            .is_some_and(|job| !self.written.contains(job))
    }

    /// A record of `job_id` is being written.
    pub fn writing(&mut self, job_id: i64) {
        if !self.is_empty() {
            self.written.insert(job_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_record_is_unchanged_until_its_job_is_written_again() {
        let mut known = KnownRecords::default();
        known.jobs_by_digest.insert([1; 16], 4711);
        assert!(known.unchanged(&[1; 16]));
        assert!(!known.unchanged(&[2; 16]), "an unknown record");
        known.writing(4712);
        assert!(known.unchanged(&[1; 16]), "another job written");
        known.writing(4711);
        assert!(
            !known.unchanged(&[1; 16]),
            "its job was written by this file"
        );
    }

    #[test]
    fn nothing_known_holds_nothing() {
        let mut known = KnownRecords::default();
        known.writing(1);
        assert!(known.written.is_empty());
        assert!(!known.unchanged(&[0; 16]));
    }
}
