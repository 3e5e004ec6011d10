CREATE INDEX jobs_newest ON jobs (id DESC);
