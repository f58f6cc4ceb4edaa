-- Replies whose reading was unclear ("基本完成", "好的"): what the bot would apply, kept
-- until the liaison confirms it (是) or drops it (不是). Nothing is applied before.
CREATE TABLE pending_readings (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures (id),
    code TEXT NOT NULL,
    intent TEXT NOT NULL,
    raw_text TEXT NOT NULL,
    unit TEXT,
    -- The chat and the sender, as addresses (`telegram:7001`).
    chat_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    confirmed INTEGER
);
