DROP TABLE job_events;
DROP TABLE jobs;
DROP FUNCTION jobs_notify_queued();
