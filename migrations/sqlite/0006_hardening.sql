-- Updates that failed for a reason that does not pass by itself: held back, so that other
-- chats go on, and tried again with a growing wait; the same chat's later updates wait
-- behind them, in order. After a few tries one is skipped and its sender told.
CREATE TABLE held_updates (
    update_id BIGINT PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_try TEXT NOT NULL,
    last_error TEXT NOT NULL,
    held_at TEXT NOT NULL
);

CREATE INDEX held_updates_chat ON held_updates (chat_id, update_id);

-- What senders who are not bound did: answers they got and wrong invitation codes, so that
-- a flood of them gets a few answers an hour and guessing codes slows down.
CREATE TABLE stranger_events (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('answer', 'silenced', 'bad_code')),
    at TEXT NOT NULL
);

CREATE INDEX stranger_events_user ON stranger_events (user_id, kind, at);
CREATE INDEX stranger_events_at ON stranger_events (at);
