//! Whether a statement's plan is kept per connection. Diesel never caches a `sql_query`'s
//! statement, so every execution cost a Parse round trip and Postgres parsing and planning
//! it anew (the top of its profile on the mail path): `prepared` keeps it, per connection,
//! under its SQL text, as Diesel's own queries are. And Diesel does cache a boxed query's,
//! so Postgres may settle on one generic plan after five executions: `planned_each_time_if` is
//! for statements whose best plan depends on the values (the job listing with a time
//! window, where a generic plan for `customer = $1 AND created_at >= $2` walked the whole
//! table for a narrow window: Postgres cannot guess a range's width without its values).
//!
//! `prepared` only for fixed SQL (a literal, perhaps with `concat!`, or text built the same
//! way every time): each distinct text stays in the connection's cache for its life. And
//! never `*` in its result: an added column would change the cached statement's result,
//! which Postgres refuses ("cached plan must not change result type") while an older node
//! runs beside a newer schema.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A statement with its plan caching decided here (see the module's comment).
#[derive(Debug, Clone, Copy)]
pub struct PlanCache<Q> {
    query: Q,
    keep: bool,
}

/// `query`, prepared once per connection.
pub fn prepared<Q>(query: Q) -> PlanCache<Q> {
    PlanCache { query, keep: true }
}

/// `query`, planned for its values at every execution when `each_time`, else prepared.
pub fn planned_each_time_if<Q>(each_time: bool, query: Q) -> PlanCache<Q> {
    PlanCache {
        query,
        keep: !each_time,
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PlanCache<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _: &Pg) -> QueryResult<bool> {
        Ok(self.keep)
    }
}

/// Cached by its SQL text and bind types (no static id: one wrapper type serves them all).
impl<Q> QueryId for PlanCache<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PlanCache<Q> {
    type SqlType = Q::SqlType;
}
