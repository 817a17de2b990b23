-- One migration set for PostgreSQL and SQLite: only types and statements both
-- understand (TEXT, BIGINT, DOUBLE PRECISION, BYTEA, ON CONFLICT). Times are
-- Unix milliseconds (UTC); JSON is kept as TEXT exactly as received.

CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device_id TEXT NOT NULL,
    camera TEXT NOT NULL,
    task TEXT NOT NULL,
    kind TEXT NOT NULL,
    verdict TEXT NOT NULL,
    priority TEXT NOT NULL,
    flagged BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    captured_ms BIGINT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    message_zh TEXT,
    -- Facts pulled out of `details` for filters, the overview and exports.
    item_label TEXT,
    item_category TEXT,
    bin_zone TEXT,
    bin_category TEXT,
    -- What a run of events follows (a leak's leak_id), so open leaks are found in SQL.
    track TEXT,
    evidence_sha256 TEXT,
    payload TEXT NOT NULL,
    broker TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    -- The review: NULL until someone gives a verdict.
    review TEXT,
    reviewed_ms BIGINT,
    reviewer TEXT,
    corrected_category TEXT,
    corrected_label TEXT,
    review_comment TEXT,
    -- cmd/label-feedback sent for the review, and the agent's reply.
    feedback_request_id TEXT,
    feedback_state TEXT,
    feedback_sent_ms BIGINT,
    feedback_attempts BIGINT NOT NULL DEFAULT 0,
    feedback_command TEXT,
    feedback_reply TEXT
);
-- The queue is newest first within `flagged`, by each filter it offers.
CREATE INDEX events_by_time ON events (time_ms, event_id);
CREATE INDEX events_flagged_time ON events (flagged, time_ms, event_id);
CREATE INDEX events_flagged_site_time ON events (flagged, site, time_ms);
CREATE INDEX events_flagged_device_time ON events (flagged, device_id, time_ms);
CREATE INDEX events_flagged_kind_time ON events (flagged, kind, time_ms);
CREATE INDEX events_flagged_review_time ON events (flagged, review, time_ms);
CREATE INDEX events_kind_track ON events (kind, time_ms, track);
CREATE INDEX events_feedback ON events (feedback_request_id);

CREATE TABLE evidence (
    event_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    jpeg BYTEA NOT NULL,
    received_ms BIGINT NOT NULL
);

CREATE TABLE devices (
    site TEXT NOT NULL,
    device_id TEXT NOT NULL,
    state TEXT,
    graceful BIGINT,
    status_ms BIGINT,
    agent_version TEXT,
    heartbeat TEXT,
    heartbeat_ms BIGINT,
    PRIMARY KEY (site, device_id)
);

-- Messages refused at ingest: why, and a short escaped sample (never the payload as data).
CREATE TABLE rejects (
    id TEXT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    broker TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    size BIGINT NOT NULL,
    sample TEXT NOT NULL
);
CREATE INDEX rejects_by_time ON rejects (time_ms);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    client TEXT
);
CREATE INDEX audit_by_time ON audit (time_ms);

-- Intake slips seen on cmd/intake-slip, shown beside the intake event that checked them.
CREATE TABLE slips (
    site TEXT NOT NULL,
    device_id TEXT NOT NULL,
    slip_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (site, device_id, slip_id)
);
