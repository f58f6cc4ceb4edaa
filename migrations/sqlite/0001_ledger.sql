-- The ledger: aspects, problems, units, people, measures, their notes and history.
-- Dates are TEXT 'YYYY-MM-DD'; instants are TEXT RFC 3339 in UTC with microseconds, so that
-- they sort as text. The PostgreSQL schema in ../postgres mirrors this one.

CREATE TABLE aspects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL
);

-- A problem belongs to an aspect; the same title may stand under two aspects.
CREATE TABLE problems (
    id INTEGER PRIMARY KEY,
    aspect_id INTEGER REFERENCES aspects (id),
    title TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE INDEX problems_title ON problems (title);

CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    unit_id INTEGER REFERENCES units (id),
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office')),
    created_at TEXT NOT NULL
);

-- Responsible leaders come from the ledger and are matched by name.
CREATE UNIQUE INDEX people_leader_name ON people (name) WHERE role = 'leader';

-- Every import, with its counts. Measures an import created, and history rows of its edits,
-- point at it.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    rows_read INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    missing INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE measures (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    aspect_id INTEGER REFERENCES aspects (id),
    problem_id INTEGER REFERENCES problems (id),
    content TEXT NOT NULL,
    target TEXT,
    lead_unit_id INTEGER NOT NULL REFERENCES units (id),
    deadline_kind TEXT NOT NULL CHECK (deadline_kind IN ('date', 'immediate', 'long_term')),
    deadline TEXT,
    report_cycle TEXT,
    deadline_text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('not_started', 'in_progress', 'claimed', 'closed')),
    claimed_at TEXT,
    last_report_at TEXT,
    latest_progress TEXT,
    initial_status TEXT NOT NULL CHECK (initial_status IN ('not_started', 'in_progress', 'claimed', 'closed')),
    initial_progress TEXT,
    -- The 整改进展 text the last import carried, when it differs from initial_progress: a
    -- re-import adds a note only when the file's text is new, never for stale text.
    ledger_progress TEXT,
    created_by TEXT NOT NULL,
    import_id INTEGER REFERENCES imports (id),
    position INTEGER NOT NULL,
    source_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX measures_lead_unit ON measures (lead_unit_id);

CREATE TABLE measure_units (
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    unit_id INTEGER NOT NULL REFERENCES units (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (measure_id, unit_id)
) WITHOUT ROWID;

CREATE TABLE measure_leaders (
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    person_id INTEGER NOT NULL REFERENCES people (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (measure_id, person_id)
) WITHOUT ROWID;

CREATE TABLE progress_notes (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'cli', 'chat')),
    created_at TEXT NOT NULL
);

CREATE INDEX progress_notes_measure ON progress_notes (measure_id, id);

-- Every status change, and every edit a re-import makes, with who, when and why. A measure's
-- creation is recorded on the measure itself (created_at, created_by, import_id,
-- initial_status, initial_progress): the history holds what changed afterwards.
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'cli', 'chat')),
    kind TEXT NOT NULL CHECK (kind IN ('status', 'edit', 'note', 'flag', 'extension')),
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT,
    import_id INTEGER REFERENCES imports (id),
    -- For changes from a chat: the unit the person answered for, the chat, the words sent.
    unit TEXT,
    chat_id INTEGER,
    raw_text TEXT
);

CREATE INDEX history_measure ON history (measure_id, id);
