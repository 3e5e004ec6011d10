//! What every pooled connection sets up, against the real Postgres.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shared_modules::testing::TestDb;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn random_page_cost(conn: &mut AsyncPgConnection) -> String {
    diesel::sql_query("SELECT current_setting('random_page_cost') AS value")
        .get_result::<Setting>(conn)
        .await
        .unwrap()
        .value
}

#[tokio::test]
async fn a_connection_prices_random_reads_as_an_ssd_unless_the_dba_set_a_price() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    assert_eq!(random_page_cost(&mut conn).await, "1.1");

    diesel::sql_query(format!(
        "ALTER DATABASE \"{}\" SET random_page_cost = 2.5",
        db.name
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let mut fresh = db.pool().get().await.unwrap();
    assert_eq!(
        random_page_cost(&mut fresh).await,
        "2.5",
        "the DBA's value stays"
    );
}
