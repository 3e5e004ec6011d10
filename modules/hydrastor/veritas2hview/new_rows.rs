//! A customer's first export: the tables that held none of the customer's rows when a file
//! was started, and the keys the file has sent to them since. A batch for such a table
//! whose keys no earlier batch of the file sent holds new rows only, so it is written with a
//! plain `INSERT`: the upsert's conflict handling (a speculative insertion per row) cost 60 %
//! over a plain insert, and on a first export every row takes it for nothing.
//!
//! Keys are held as 64-bit hashes, at most `MOST_SENT` of them (~10 bytes each): a collision
//! only sends a batch of new rows through the upsert, which writes them all the same, and a
//! file past the limit is upserted from there on. Another job storing the same customer's
//! rows at the same time makes the insert wait for it and then fail on the key; the job is
//! tried again, and a job's later attempts always upsert.

use super::columns::Batch;
use super::spec::TableSpec;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashSet;

/// At most this many keys are held per file; past it, every batch is upserted.
pub const MOST_SENT: usize = 2_000_000;

#[derive(Default)]
pub struct NewRows {
    /// Tables in which the customer had no row when the file was started.
    empty: HashSet<&'static str>,
    /// The keys this file sent to those tables (hashed with the table's name).
    sent: HashSet<u64>,
    /// How many keys `sent` may hold.
    most: usize,
}

#[derive(QueryableByName)]
struct Empty {
    #[diesel(sql_type = Array<Text>)]
    tables: Vec<String>,
}

impl NewRows {
    /// Which of `tables` hold no row of `customer` (seen from the job's transaction, so an
    /// earlier file of the same upload counts).
    pub async fn load(
        conn: &mut AsyncPgConnection,
        customer: &str,
        tables: &[&'static TableSpec],
    ) -> diesel::QueryResult<NewRows> {
        if tables.is_empty() {
            return Ok(NewRows::default());
        }
        // Each probe reads the first entry of the table's key index (customer first).
        let probes = tables
            .iter()
            .map(|spec| {
                let table = spec.table;
                format!("SELECT '{table}' AS t WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE customer = $1)")
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let found: Empty = diesel::sql_query(format!(
            "SELECT coalesce(array_agg(t), '{{}}') AS tables FROM ({probes}) empty"
        ))
        .bind::<Text, _>(customer)
        .get_result(conn)
        .await?;
        let empty = tables
            .iter()
            .map(|spec| spec.table)
            .filter(|table| found.tables.iter().any(|t| t == table))
            .collect();
        Ok(NewRows {
            empty,
            sent: HashSet::new(),
            most: MOST_SENT,
        })
    }

    /// Whether every row of `batch` is new: its table held none of the customer's rows at
    /// the start, and no earlier batch sent one of its keys. Its keys count as sent.
    pub fn all_new(&mut self, batch: &Batch) -> bool {
        if !self.empty.contains(batch.spec.table) {
            return false;
        }
        if self.sent.len() + batch.len > self.most {
            // Too many to hold: nothing is known new any more.
            self.empty.clear();
            self.sent = HashSet::new();
            return false;
        }
        let mut all_new = true;
        for key in batch.key_hashes() {
            all_new &= self.sent.insert(key);
        }
        all_new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hydrastor::veritas2hview::columns::Columns;
    use crate::hydrastor::veritas2hview::spec;

    fn batch(spec: &'static TableSpec, ids: &[i64]) -> Batch {
        let mut columns = Columns::new(spec);
        for id in ids {
            columns
                .push_object(&serde_json::json!({"master_server": "m1", "job_id": id}))
                .unwrap();
        }
        columns.finish()
    }

    fn jobs_table_empty(most: usize) -> NewRows {
        NewRows {
            empty: HashSet::from([spec::JOBS.table]),
            sent: HashSet::new(),
            most,
        }
    }

    #[test]
    fn a_batch_is_new_until_one_of_its_keys_was_sent_before() {
        let mut new = jobs_table_empty(MOST_SENT);
        assert!(new.all_new(&batch(&spec::JOBS, &[1, 2, 3])));
        assert!(new.all_new(&batch(&spec::JOBS, &[4, 5])));
        assert!(!new.all_new(&batch(&spec::JOBS, &[6, 2])), "job 2 again");
        assert!(
            !new.all_new(&batch(&spec::JOBS, &[6])),
            "sent in the batch before"
        );
    }

    #[test]
    fn a_table_that_held_rows_is_never_new() {
        let mut new = NewRows::default();
        assert!(!new.all_new(&batch(&spec::JOBS, &[1])));
    }

    #[test]
    fn past_the_keys_it_may_hold_every_batch_is_upserted() {
        let mut new = jobs_table_empty(4);
        assert!(new.all_new(&batch(&spec::JOBS, &[1, 2])));
        assert!(new.all_new(&batch(&spec::JOBS, &[3, 4])));
        assert!(!new.all_new(&batch(&spec::JOBS, &[5])), "a fifth key");
        assert!(new.sent.is_empty(), "the keys are let go");
        assert!(!new.all_new(&batch(&spec::JOBS, &[6])), "and stay unknown");
    }
}
