-- The unit head (单位主要负责人), a role of its own: 督办 reaches them; and the periodic
-- 通报, numbered per year. SQLite changes the
-- CHECK on `role` by rebuilding `people` and `invites`, which other tables reference, so this
-- migration runs outside the migrator's transaction with foreign keys off, as SQLite's
-- documented procedure for other kinds of table schema changes has it (the rows keep their
-- ids, so every reference stays valid).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE people_new (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    unit_id INTEGER REFERENCES units (id),
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office', 'head')),
    created_at TEXT NOT NULL,
    place TEXT
);
INSERT INTO people_new (id, name, unit_id, role, created_at, place)
    SELECT id, name, unit_id, role, created_at, place FROM people;
DROP TABLE people;
ALTER TABLE people_new RENAME TO people;
CREATE UNIQUE INDEX people_leader_name ON people (name) WHERE role = 'leader';

CREATE TABLE invites_new (
    id INTEGER PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('liaison', 'leader', 'office', 'head')),
    unit_id INTEGER REFERENCES units (id),
    place TEXT,
    person_name TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by TEXT,
    used_in_chat TEXT
);
INSERT INTO invites_new (id, code_hash, role, unit_id, place, person_name, created_by,
        created_at, expires_at, used_at, used_by, used_in_chat)
    SELECT id, code_hash, role, unit_id, place, person_name, created_by,
        created_at, expires_at, used_at, used_by, used_in_chat FROM invites;
DROP TABLE invites;
ALTER TABLE invites_new RENAME TO invites;

-- The periodic 通报: one row per notice issued, numbered per year.
CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    period TEXT NOT NULL CHECK (period IN ('week', 'month')),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    year INTEGER NOT NULL,
    number INTEGER NOT NULL,
    issued_at TEXT NOT NULL,
    path TEXT,
    UNIQUE (period, period_from),
    UNIQUE (year, number)
);

-- 五书制: the documents steps of the ladder issue, numbered per year and prefix.
CREATE TABLE step_documents (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    step_key TEXT NOT NULL,
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    number INTEGER NOT NULL,
    path TEXT,
    issued_at TEXT NOT NULL,
    UNIQUE (measure_id, step_key),
    UNIQUE (prefix, year, number)
);

COMMIT;
PRAGMA foreign_keys = ON;
