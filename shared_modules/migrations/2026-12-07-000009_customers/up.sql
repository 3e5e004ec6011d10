-- Customers as users: each customer's credentials live here, the same on every node.
-- An API key is kept only as its SHA-256; an S3 secret, which SigV4 needs in clear to
-- verify, is sealed (AES-256-GCM) with the server key, which is never in the database.
CREATE TABLE customers (
    name text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_credentials (
    id bigserial PRIMARY KEY,
    customer text NOT NULL REFERENCES customers (name),
    -- The public name of the credential, in logs and job records (never the key itself).
    key_id text NOT NULL UNIQUE,
    api_key_sha256 bytea NOT NULL UNIQUE,
    s3_access_key_id text NOT NULL UNIQUE,
    -- nonce (12 bytes) followed by the sealed secret and its tag.
    s3_secret_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set by a rotation: the old credentials work until then.
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX customer_credentials_customer ON customer_credentials (customer);

-- Uploads started through `POST /api/1.0/uploads` (a browser's multipart upload).
CREATE TABLE browser_uploads (
    id text PRIMARY KEY,
    customer text NOT NULL,
    grid text NOT NULL,
    object_key text NOT NULL,
    file_name text NOT NULL,
    size bigint NOT NULL,
    part_size bigint NOT NULL,
    store_upload_id text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    job_id bigint
);
CREATE INDEX browser_uploads_customer ON browser_uploads (customer, created_at DESC);
