-- The checks on measures' kind and status columns as comparisons joined by OR, not IN lists.
-- SQLite builds a lookup table for an IN list of more than two values each time a statement
-- runs, so every single-row insert built three: that was half of what inserting a measure
-- cost in a large import. The constraints allow exactly the values they allowed before.
--
-- SQLite cannot change a constraint in place, so `measures`, which other tables reference,
-- is rebuilt as 0009 rebuilt `people`: outside the migrator's transaction with foreign keys
-- off, as SQLite's documented procedure for other kinds of table schema changes has it. The
-- rows keep their ids, so every reference stays valid; run twice, the script rebuilds the
-- table again to the same result.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE measures_rebuilt (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    aspect_id INTEGER REFERENCES aspects (id),
    problem_id INTEGER REFERENCES problems (id),
    content TEXT NOT NULL,
    target TEXT,
    lead_unit_id INTEGER NOT NULL REFERENCES units (id),
    deadline_kind TEXT NOT NULL CHECK (
        deadline_kind = 'date' OR deadline_kind = 'immediate' OR deadline_kind = 'long_term'
    ),
    deadline TEXT,
    report_cycle TEXT,
    deadline_text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (
        status = 'not_started' OR status = 'in_progress' OR status = 'claimed'
        OR status = 'closed'
    ),
    claimed_at TEXT,
    last_report_at TEXT,
    latest_progress TEXT,
    initial_status TEXT NOT NULL CHECK (
        initial_status = 'not_started' OR initial_status = 'in_progress'
        OR initial_status = 'claimed' OR initial_status = 'closed'
    ),
    initial_progress TEXT,
    -- The 整改进展 text the last import carried, when it differs from initial_progress: a
    -- re-import adds a note only when the file's text is new, never for stale text.
    ledger_progress TEXT,
    created_by TEXT NOT NULL,
    import_id INTEGER REFERENCES imports (id),
    position INTEGER NOT NULL,
    source_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- Approved extensions (0003).
    extensions INTEGER NOT NULL DEFAULT 0
);

INSERT INTO measures_rebuilt (
    id, code, aspect_id, problem_id, content, target, lead_unit_id, deadline_kind, deadline,
    report_cycle, deadline_text, status, claimed_at, last_report_at, latest_progress,
    initial_status, initial_progress, ledger_progress, created_by, import_id, position,
    source_hash, created_at, updated_at, extensions
)
SELECT
    id, code, aspect_id, problem_id, content, target, lead_unit_id, deadline_kind, deadline,
    report_cycle, deadline_text, status, claimed_at, last_report_at, latest_progress,
    initial_status, initial_progress, ledger_progress, created_by, import_id, position,
    source_hash, created_at, updated_at, extensions
FROM measures;

DROP TABLE measures;
ALTER TABLE measures_rebuilt RENAME TO measures;
CREATE INDEX measures_lead_unit ON measures (lead_unit_id);

COMMIT;
PRAGMA foreign_keys = ON;
