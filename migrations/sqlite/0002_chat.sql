-- Chat: who is bound to which unit, invitations, the outbox, incoming updates seen, sweeps run.

-- A person's chat identity. A liaison answers for a unit (unit_id); a leader or office member
-- sits somewhere (place) that need not be a unit of the ledger.
ALTER TABLE people ADD COLUMN place TEXT;
ALTER TABLE people ADD COLUMN telegram_id INTEGER;
ALTER TABLE people ADD COLUMN chat_id INTEGER;
ALTER TABLE people ADD COLUMN bound_at TEXT;
ALTER TABLE people ADD COLUMN unreachable_at TEXT;

CREATE INDEX people_telegram ON people (telegram_id);

-- One-time invitation codes, stored as SHA-256 hashes.
CREATE TABLE invites (
    id INTEGER PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office')),
    unit_id INTEGER REFERENCES units (id),
    place TEXT,
    person_name TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by INTEGER,
    used_in_chat INTEGER
);

-- A group chat bound to a unit: reminders of the unit go there.
CREATE TABLE unit_chats (
    unit_id INTEGER NOT NULL REFERENCES units (id),
    chat_id INTEGER NOT NULL,
    bound_at TEXT NOT NULL,
    bound_by INTEGER NOT NULL,
    -- The bot was removed from the group, or the group is gone.
    unreachable_at TEXT,
    PRIMARY KEY (unit_id, chat_id)
);

-- Every outgoing message, sent at most once per idempotency key.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    chat_id INTEGER NOT NULL,
    person_id INTEGER REFERENCES people (id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    message_id INTEGER,
    last_error TEXT
);

CREATE INDEX outbox_due ON outbox (state, not_before);
CREATE INDEX outbox_message ON outbox (chat_id, message_id);

-- The measures a reminder lists, in order: replies and buttons on it refer to them.
CREATE TABLE outbox_items (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    position INTEGER NOT NULL,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    PRIMARY KEY (outbox_id, position)
);

-- Incoming updates already applied: each is applied once, even after a restart.
CREATE TABLE updates (
    update_id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL
);

-- Scheduled runs (a day's sweep), so that a missed one is caught up once.
CREATE TABLE runs (
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (kind, day)
);

-- 需协调: a liaison asks the office for coordination.
CREATE TABLE coordination_flags (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    person_id INTEGER REFERENCES people (id),
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'raised', 'closed'))
);

-- 申请延期: a liaison asks for a later deadline; the office decides.
CREATE TABLE extension_requests (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    person_id INTEGER REFERENCES people (id),
    requested_by TEXT NOT NULL,
    requested_until TEXT NOT NULL,
    reason TEXT,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected'))
);
