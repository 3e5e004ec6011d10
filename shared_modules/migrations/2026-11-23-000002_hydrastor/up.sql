-- Output of modules/hydrastor/{system_report,alert}: the contract HView reads.
-- Natural keys make every upsert idempotent; *_bytes are bytes (decimal or binary units
-- converted), dedup ratios are N in N:1.

CREATE TABLE hydrastor_grids (
    customer                TEXT NOT NULL,
    grid_name               TEXT NOT NULL,
    serial_number           TEXT,
    model                   TEXT,
    software_version        TEXT,
    status                  TEXT,
    physical_capacity_bytes BIGINT,
    physical_used_bytes     BIGINT,
    physical_free_bytes     BIGINT,
    logical_used_bytes      BIGINT,
    dedup_ratio             DOUBLE PRECISION,
    last_report_at          TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer, grid_name)
);

CREATE TABLE hydrastor_system_reports (
    customer                TEXT NOT NULL,
    grid_name               TEXT NOT NULL,
    report_time             TIMESTAMPTZ NOT NULL,
    serial_number           TEXT,
    model                   TEXT,
    software_version        TEXT,
    status                  TEXT,
    physical_capacity_bytes BIGINT,
    physical_used_bytes     BIGINT,
    physical_free_bytes     BIGINT,
    logical_used_bytes      BIGINT,
    dedup_ratio             DOUBLE PRECISION,
    -- Sections and labels the contract does not name, kept as reported.
    extra                   JSONB NOT NULL DEFAULT '{}'::jsonb,
    job_id                  BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, grid_name, report_time)
);

CREATE TABLE hydrastor_nodes (
    customer                TEXT NOT NULL,
    grid_name               TEXT NOT NULL,
    node_name               TEXT NOT NULL,
    role                    TEXT,
    status                  TEXT,
    physical_capacity_bytes BIGINT,
    physical_used_bytes     BIGINT,
    last_report_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer, grid_name, node_name)
);

CREATE TABLE hydrastor_filesystems (
    customer           TEXT NOT NULL,
    grid_name          TEXT NOT NULL,
    fs_name            TEXT NOT NULL,
    fs_type            TEXT,
    status             TEXT,
    logical_used_bytes BIGINT,
    dedup_ratio        DOUBLE PRECISION,
    last_report_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer, grid_name, fs_name)
);

CREATE TABLE hydrastor_alerts (
    customer    TEXT NOT NULL,
    grid_name   TEXT NOT NULL,
    node_name   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('Info', 'Notice', 'Warning', 'Error', 'Critical')),
    component   TEXT,
    message     TEXT,
    extra       JSONB NOT NULL DEFAULT '{}'::jsonb,
    job_id      BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer, grid_name, node_name, event_id, occurred_at)
);
CREATE INDEX hydrastor_alerts_recent ON hydrastor_alerts (customer, occurred_at DESC);
