-- The workflow after a reminder: close-out (销号) with evidence, extensions decided by the
-- office, requests under the response rule, and the daily digest's counts. The PostgreSQL
-- schema in ../postgres mirrors this one.

-- An approved extension moves a measure's deadline; the history row (kind 'deadline')
-- keeps the old value and the new one.
ALTER TABLE measures ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0;

-- History gains the kinds 'deadline' and 'evidence'. SQLite cannot change a CHECK, so the
-- table is rebuilt with its rows (0001 stays as it was applied).
CREATE TABLE history_new (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'cli', 'chat')),
    kind TEXT NOT NULL CHECK (kind IN ('status', 'edit', 'note', 'flag', 'extension', 'deadline', 'evidence')),
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT,
    import_id INTEGER REFERENCES imports (id),
    unit TEXT,
    chat_id INTEGER,
    raw_text TEXT,
    old_value TEXT,
    new_value TEXT
);
INSERT INTO history_new (id, measure_id, at, actor, source, kind, from_status, to_status, note, import_id, unit, chat_id, raw_text)
    SELECT id, measure_id, at, actor, source, kind, from_status, to_status, note, import_id, unit, chat_id, raw_text FROM history;
DROP TABLE history;
ALTER TABLE history_new RENAME TO history;
CREATE INDEX history_measure ON history (measure_id, id);

-- What a message is about (JSON: a claim, an extension request, a flag, requests), for
-- replies to it and buttons under it.
ALTER TABLE outbox ADD COLUMN context TEXT;

-- 销号: a claim of completion and the office's decision on it. Every claim is kept: who
-- claimed, who verified, and why a claim went back.
CREATE TABLE claims (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    claimed_by TEXT NOT NULL,
    claimed_by_user INTEGER,
    chat_id INTEGER,
    claimed_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    -- An office member pressed 退回 and owes the reason.
    rejecting_user INTEGER,
    decided_by TEXT,
    decided_by_user INTEGER,
    decided_at TEXT,
    reason TEXT
);

CREATE INDEX claims_measure ON claims (measure_id, id);

-- Evidence (佐证材料) sent in a chat: the channel's file id, a copy under the data
-- directory and its SHA-256.
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    claim_id INTEGER REFERENCES claims (id),
    file_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'document')),
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_by_user INTEGER,
    chat_id INTEGER,
    created_at TEXT NOT NULL
);

CREATE INDEX evidence_measure ON evidence (measure_id, id);

-- The office's decision on an extension request, and where to tell the requester.
ALTER TABLE extension_requests ADD COLUMN chat_id INTEGER;
ALTER TABLE extension_requests ADD COLUMN requested_by_user INTEGER;
ALTER TABLE extension_requests ADD COLUMN previous_deadline TEXT;
ALTER TABLE extension_requests ADD COLUMN rejecting_user INTEGER;
ALTER TABLE extension_requests ADD COLUMN decided_by TEXT;
ALTER TABLE extension_requests ADD COLUMN decided_at TEXT;
ALTER TABLE extension_requests ADD COLUMN decision_reason TEXT;

-- 诉求/事项: something a unit must answer within the response rule's limit.
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units (id),
    category TEXT NOT NULL CHECK (category IN ('consult', 'general', 'major')),
    body TEXT NOT NULL,
    raised_on TEXT NOT NULL,
    due TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    flag_id INTEGER REFERENCES coordination_flags (id),
    answer TEXT,
    answered_by TEXT,
    answered_at TEXT,
    answered_on TEXT
);

CREATE INDEX requests_open ON requests (answered_at, due);

-- Where a 需协调 came from, and the request the office raised it into.
ALTER TABLE coordination_flags ADD COLUMN unit TEXT;
ALTER TABLE coordination_flags ADD COLUMN chat_id INTEGER;
ALTER TABLE coordination_flags ADD COLUMN request_id INTEGER REFERENCES requests (id);

-- What each day's digest counted, for "the change since the last digest".
CREATE TABLE digests (
    day TEXT PRIMARY KEY,
    total INTEGER NOT NULL,
    closed INTEGER NOT NULL,
    red INTEGER NOT NULL,
    yellow INTEGER NOT NULL,
    green INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
