-- Updates that failed for a reason that does not pass by itself: held back, so that other
-- chats go on, and tried again with a growing wait; the same chat's later updates wait
-- behind them, in order. After a few tries one is skipped and its sender told.
CREATE TABLE held_updates (
    -- The order in which updates were held: a chat's later ones wait behind its earlier ones.
    seq INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    update_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_try TEXT NOT NULL,
    last_error TEXT NOT NULL,
    held_at TEXT NOT NULL,
    UNIQUE (channel, update_id)
);

CREATE INDEX held_updates_chat ON held_updates (channel, chat_id, seq);

-- What senders who are not bound did: answers they got and wrong invitation codes, so that
-- a flood of them gets a few answers an hour and guessing codes slows down.
CREATE TABLE stranger_events (
    id INTEGER PRIMARY KEY,
    -- The sender, as an address (`telegram:90001`).
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('answer', 'silenced', 'bad_code')),
    at TEXT NOT NULL
);

CREATE INDEX stranger_events_user ON stranger_events (user_id, kind, at);
CREATE INDEX stranger_events_at ON stranger_events (at);
