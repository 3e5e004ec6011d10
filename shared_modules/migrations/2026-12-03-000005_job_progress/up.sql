-- What a long job has done so far (bytes read, rows stored), written by the worker's
-- heartbeat outside the job's transaction so that operators see it while the job runs.
ALTER TABLE jobs ADD COLUMN progress JSONB;
