//! Postgres advisory locks held by a pooled connection: one holder at a time across every
//! node, released at the end of the work or, should the holder die, with its connection.

use super::PooledConn;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::RunQueryDsl;
use sha2::Digest;

/// The lock key of a named piece of work.
pub fn lock_key(name: &str) -> i64 {
    let digest = sha2::Sha256::digest(format!("dataprocessor {name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[derive(QueryableByName)]
struct Answer {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

/// Takes the lock when it is free; false when another holds it (or the database failed).
pub async fn try_lock(conn: &mut PooledConn, key: i64) -> bool {
    diesel::sql_query("SELECT pg_try_advisory_lock($1) AS ok")
        .bind::<BigInt, _>(key)
        .get_result::<Answer>(&mut **conn)
        .await
        .is_ok_and(|row| row.ok)
}

/// Gives the lock back. A connection that could not (the database failed meanwhile) is not
/// returned to the pool: closed, it takes the lock with it.
pub async fn unlock(mut conn: PooledConn, key: i64) {
    let released = diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok")
        .bind::<BigInt, _>(key)
        .get_result::<Answer>(&mut *conn)
        .await
        .is_ok_and(|row| row.ok);
    if !released {
        let _ = deadpool::managed::Object::take(conn);
    }
}
