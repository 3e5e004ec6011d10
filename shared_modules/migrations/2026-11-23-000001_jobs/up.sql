-- The job queue: one row per delivery (a mail, an upload), with its lease and its outcome.
CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    source          TEXT NOT NULL CHECK (source IN ('email', 'upload', 'manual')),
    customer        TEXT NOT NULL,
    category        TEXT NOT NULL,
    job_type        TEXT NOT NULL,
    job_group       TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'error', 'quarantined', 'cancelled')),
    inbox_path      TEXT,
    tmp_path        TEXT,
    archive_path    TEXT,
    metadata        JSONB NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_after       TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ,
    locked_by       TEXT,
    timeout_seconds INTEGER NOT NULL CHECK (timeout_seconds >= 1),
    error           TEXT,
    result          JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A redelivered mail or a re-triggered upload finds its job instead of making a second one.
CREATE UNIQUE INDEX jobs_dedupe_key ON jobs (dedupe_key);
-- What workers claim from, oldest first.
CREATE INDEX jobs_claimable ON jobs (run_after, id) WHERE state = 'queued';
-- What the reaper scans.
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'running';
-- Listing newest first with a cursor.
CREATE INDEX jobs_newest ON jobs (id DESC);
CREATE INDEX jobs_customer ON jobs (customer, id DESC);

-- Every step of every job: enter/exit, status, duration. The per-file provenance record.
CREATE TABLE job_events (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    step        TEXT NOT NULL,
    phase       TEXT NOT NULL CHECK (phase IN ('enter', 'exit', 'info')),
    status      TEXT,
    duration_ms BIGINT,
    message     TEXT,
    worker      TEXT
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

-- Wake idle workers as soon as a job becomes claimable (polling is only the fallback).
CREATE FUNCTION jobs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dataprocessor_jobs', NEW.job_type);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_queued
    AFTER INSERT OR UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued')
    EXECUTE FUNCTION jobs_notify_queued();
