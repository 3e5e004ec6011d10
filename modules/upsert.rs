//! The one way the stores write a row by its natural key: `INSERT … ON CONFLICT (key) DO
//! UPDATE … WHERE something differs`, so the same input again changes nothing and a newer
//! one updates what changed. Each store says which columns it writes, which form the key,
//! which are compared, and what else an update sets.

/// An upsert statement under construction.
pub struct Upsert<'a> {
    table: &'a str,
    columns: Vec<&'a str>,
    key: Vec<&'a str>,
    compared: Vec<&'a str>,
    carried: Vec<&'a str>,
    assignments: Vec<&'a str>,
    newer_by: Option<&'a str>,
}

impl<'a> Upsert<'a> {
    /// Writes `columns` (in this order: the order of the statement's values) into `table`.
    pub fn into(table: &'a str, columns: &[&'a str]) -> Self {
        Upsert {
            table,
            columns: columns.to_vec(),
            key: Vec::new(),
            compared: Vec::new(),
            carried: Vec::new(),
            assignments: Vec::new(),
            newer_by: None,
        }
    }

    /// The natural key: the unique index the conflict is detected on.
    pub fn key(mut self, columns: &[&'a str]) -> Self {
        self.key.extend_from_slice(columns);
        self
    }

    /// The values that make a row differ: a stored row is updated only when one of these
    /// differs (NULL equal to NULL), and then they take the new row's values.
    pub fn compared(mut self, columns: &[&'a str]) -> Self {
        self.compared.extend_from_slice(columns);
        self
    }

    /// Taken from the new row whenever the row is updated, never compared (who wrote it).
    pub fn carried(mut self, columns: &[&'a str]) -> Self {
        self.carried.extend_from_slice(columns);
        self
    }

    /// Another `column = expression` an update sets, such as `updated_at = now()`.
    pub fn also_set(mut self, assignment: &'a str) -> Self {
        self.assignments.push(assignment);
        self
    }

    /// For tables holding the latest state: a stored row is replaced only by a newer one by
    /// `column`, or an as new one that differs; an older one never turns it back.
    pub fn newer_by(mut self, column: &'a str) -> Self {
        self.newer_by = Some(column);
        self
    }

    /// The statement with the values as parameters `$1 … $n`, one per column.
    pub fn values(&self) -> String {
        let params = (1..=self.columns.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.with_rows_from(&format!("VALUES ({params})"))
    }

    /// The statement with the rows from `source` (a `SELECT` or `VALUES` giving the
    /// columns in order).
    pub fn with_rows_from(&self, source: &str) -> String {
        let table = self.table;
        let columns = self.columns.join(", ");
        let key = self.key.join(", ");
        let set = self
            .compared
            .iter()
            .chain(&self.carried)
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .chain(self.assignments.iter().map(|a| a.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {table} ({columns}) {source}
             ON CONFLICT ({key}) DO UPDATE SET {set}
             WHERE {}",
            self.condition()
        )
    }

    fn condition(&self) -> String {
        let table = self.table;
        let ours = self
            .compared
            .iter()
            .map(|c| format!("{table}.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let theirs = self
            .compared
            .iter()
            .map(|c| format!("EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let changed = format!("({ours}) IS DISTINCT FROM ({theirs})");
        match self.newer_by {
            None => changed,
            Some(at) => format!(
                "{table}.{at} < EXCLUDED.{at} OR ({table}.{at} = EXCLUDED.{at} AND {changed})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Upsert;

    fn words(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_plain_upsert_updates_only_when_a_compared_value_differs() {
        let sql = Upsert::into("t", &["k", "a", "b", "job_id"])
            .key(&["k"])
            .compared(&["a", "b"])
            .carried(&["job_id"])
            .values();
        assert_eq!(
            words(&sql),
            "INSERT INTO t (k, a, b, job_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b, job_id = EXCLUDED.job_id \
             WHERE (t.a, t.b) IS DISTINCT FROM (EXCLUDED.a, EXCLUDED.b)"
        );
    }

    #[test]
    fn a_latest_state_upsert_never_goes_back_in_time() {
        let sql = Upsert::into("g", &["k", "at", "a"])
            .key(&["k"])
            .compared(&["a"])
            .carried(&["at"])
            .also_set("updated_at = now()")
            .newer_by("at")
            .with_rows_from("SELECT 1, now(), 2");
        assert_eq!(
            words(&sql),
            "INSERT INTO g (k, at, a) SELECT 1, now(), 2 \
             ON CONFLICT (k) DO UPDATE SET a = EXCLUDED.a, at = EXCLUDED.at, updated_at = now() \
             WHERE g.at < EXCLUDED.at OR (g.at = EXCLUDED.at AND (g.a) IS DISTINCT FROM (EXCLUDED.a))"
        );
    }
}
