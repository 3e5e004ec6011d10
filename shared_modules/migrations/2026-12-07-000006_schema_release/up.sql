-- The newest DataProcessor version that migrated this database: an older binary reading a
-- schema with migrations it does not know compares RELEASE.MAJOR with it before running.
CREATE TABLE schema_release (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
