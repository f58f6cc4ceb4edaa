-- The web workbench: one-time sign-in links and the sessions they open. Both keep only a
-- SHA-256 of their secret, so a copy of the database signs nobody in.

-- A sign-in link: for a name in a role (and, for a liaison, a unit), valid until
-- `expires_at`, used once.
CREATE TABLE web_links (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office', 'head')),
    unit_id INTEGER REFERENCES units (id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

-- A signed-in browser: its cookie's hash, who it is, its CSRF token, until when.
CREATE TABLE web_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office', 'head')),
    unit_id INTEGER REFERENCES units (id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX web_sessions_name ON web_sessions (name);

-- Changes made on the web are recorded with the source `web` (and what duban itself records,
-- such as a step of the ladder reached, with `system`), and a measure reaching a step
-- of the escalation ladder with the kind `step`: SQLite changes a CHECK by rebuilding the
-- table.
CREATE TABLE progress_notes_new (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'cli', 'chat', 'web', 'system')),
    created_at TEXT NOT NULL
);
INSERT INTO progress_notes_new (id, measure_id, body, author, source, created_at)
    SELECT id, measure_id, body, author, source, created_at FROM progress_notes;
DROP TABLE progress_notes;
ALTER TABLE progress_notes_new RENAME TO progress_notes;
CREATE INDEX progress_notes_measure ON progress_notes (measure_id, id);

CREATE TABLE history_new (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'cli', 'chat', 'web', 'system')),
    kind TEXT NOT NULL CHECK (kind IN ('status', 'edit', 'note', 'flag', 'extension', 'deadline', 'evidence', 'step', 'recheck')),
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT,
    import_id INTEGER REFERENCES imports (id),
    unit TEXT,
    raw_text TEXT,
    old_value TEXT,
    new_value TEXT,
    chat_id TEXT
);
INSERT INTO history_new (id, measure_id, at, actor, source, kind, from_status, to_status, note,
        import_id, unit, raw_text, old_value, new_value, chat_id)
    SELECT id, measure_id, at, actor, source, kind, from_status, to_status, note,
        import_id, unit, raw_text, old_value, new_value, chat_id FROM history;
DROP TABLE history;
ALTER TABLE history_new RENAME TO history;
CREATE INDEX history_measure ON history (measure_id, id);
