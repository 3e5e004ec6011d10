-- The job listing (`GET /api/1.0/jobs`, the console's job pages, HView's poller) reads
-- newest first, filtered: each filter needs an index that yields its rows in id order, or
-- a rare status or a customer's errors make Postgres walk most of the table for one page.
-- Customer alone has jobs_customer, no filter jobs_newest; category has one value today.
CREATE INDEX jobs_state_newest ON jobs (state, id DESC);
CREATE INDEX jobs_customer_state_newest ON jobs (customer, state, id DESC);
CREATE INDEX jobs_type_newest ON jobs (job_type, id DESC);
-- `since`/`until`: a window holding fewer jobs than a page is read by its time range.
CREATE INDEX jobs_created ON jobs (created_at);
