-- More than one node on one database and one shared volume.

-- Each node's heartbeat: alive while it beats (dpctl nodes, the console, /metrics).
CREATE TABLE nodes (
    name text PRIMARY KEY,
    version text NOT NULL,
    api_listen text NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    -- Its next beat is due before then (a beat every third of its lease): silent after it.
    alive_until timestamptz NOT NULL,
    stopped_at timestamptz
);

-- The one leader, holding a lease it renews; cluster duties run on it alone. A dead
-- leader's lease runs out and another node takes it (River's river_leader idea).
CREATE TABLE cluster_leader (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    node text NOT NULL,
    -- The process holding it (random per start): two processes given one name by mistake
    -- cannot both lead.
    instance text NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Each run of a cluster duty (reaper, reconciliation, retention, sweepers): which node,
-- when. Kept a week.
CREATE TABLE duty_runs (
    id bigserial PRIMARY KEY,
    duty text NOT NULL,
    node text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    error text
);
CREATE INDEX duty_runs_started ON duty_runs (started_at);

-- Console sessions, so any node serves them and a restart signs nobody out. The token is
-- kept as its SHA-256 only.
CREATE TABLE console_sessions (
    token_sha256 bytea PRIMARY KEY,
    csrf text NOT NULL,
    customer text,
    key_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Which node wrote each trail event: every connection of a node sets dataprocessor.node.
ALTER TABLE job_events
    ADD COLUMN node text DEFAULT NULLIF(current_setting('dataprocessor.node', true), '');
