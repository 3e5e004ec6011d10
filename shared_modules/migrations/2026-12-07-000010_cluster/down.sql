ALTER TABLE job_events DROP COLUMN node;
DROP TABLE console_sessions;
DROP TABLE duty_runs;
DROP TABLE cluster_leader;
DROP TABLE nodes;
