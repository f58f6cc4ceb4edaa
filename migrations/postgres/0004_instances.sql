-- Several instances on one database (PostgreSQL): leases for the jobs only one instance
-- may run (the schedule, long polling), the instances alive, and outbox rows claimed by
-- the sender working on them.

-- A lease: held by one instance until it expires; the holder renews it.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The instances that run (or ran) `duban run`, with their last sign of life.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

-- A sender claims a row before sending it; a claim that outlives its sender expires.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
CREATE INDEX outbox_pending_chat ON outbox (chat_id, id) WHERE state = 'pending';
-- The sender reads the pending rows in order of id: an index of them alone keeps that
-- read short however many rows were sent before.
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';

-- Files the service made (the digest's chart and weekly ledger), kept in the database on
-- PostgreSQL so that whichever instance sends them has them, data directory or not.
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    created_at TEXT NOT NULL
);
