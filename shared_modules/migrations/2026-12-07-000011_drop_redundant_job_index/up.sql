-- jobs_newest (id DESC) repeats the primary key, which Postgres reads backwards as well: it
-- only cost a write on every insert and on every state change (a state change is never a
-- HOT update: state is indexed), and planning time for every listing.
DROP INDEX IF EXISTS jobs_newest;
