-- One core, many channels. Chat identities were Telegram's integers: a person's
-- `telegram_id`, every chat, message and user id a BIGINT, one global update id. They
-- become text, and each names its channel (`telegram`, `console`, later `dingtalk`):
--
-- * `identities`: a person's identity on a channel (their user id there and their one-to-one
--   chat), which was `people.telegram_id` / `people.chat_id`;
-- * `unit_chats`, `outbox`, `updates`: a `channel` column beside text ids;
-- * workflow and history rows refer to chats and senders by address, `channel:id`
--   (`telegram:7001`);
-- * `cursors`: where each channel's updates were read up to, which was MAX(update_id).
--
-- Rows the console wrote (its people are placed 'console') move to the console channel;
-- everything else was Telegram's.

PRAGMA defer_foreign_keys = ON;

-- A person's identity on a channel.
CREATE TABLE identities (
    person_id INTEGER NOT NULL REFERENCES people (id),
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    bound_at TEXT NOT NULL,
    unreachable_at TEXT,
    PRIMARY KEY (person_id, channel)
);
CREATE INDEX identities_user ON identities (channel, user_id);
CREATE INDEX identities_chat ON identities (channel, chat_id);
INSERT INTO identities (person_id, channel, user_id, chat_id, bound_at, unreachable_at)
    SELECT id, CASE WHEN place = 'console' THEN 'console' ELSE 'telegram' END,
        CAST(telegram_id AS TEXT), CAST(chat_id AS TEXT), COALESCE(bound_at, created_at), unreachable_at
    FROM people WHERE telegram_id IS NOT NULL AND chat_id IS NOT NULL;

-- claims: chats and senders by address.
ALTER TABLE claims ADD COLUMN claimed_by_user_address TEXT;
UPDATE claims SET claimed_by_user_address = (CASE WHEN claimed_by_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(claimed_by_user AS TEXT) WHERE claimed_by_user IS NOT NULL;
ALTER TABLE claims DROP COLUMN claimed_by_user;
ALTER TABLE claims RENAME COLUMN claimed_by_user_address TO claimed_by_user;
ALTER TABLE claims ADD COLUMN chat_id_address TEXT;
UPDATE claims SET chat_id_address = (CASE WHEN chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(chat_id AS TEXT) WHERE chat_id IS NOT NULL;
ALTER TABLE claims DROP COLUMN chat_id;
ALTER TABLE claims RENAME COLUMN chat_id_address TO chat_id;
ALTER TABLE claims ADD COLUMN rejecting_user_address TEXT;
UPDATE claims SET rejecting_user_address = (CASE WHEN rejecting_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(rejecting_user AS TEXT) WHERE rejecting_user IS NOT NULL;
ALTER TABLE claims DROP COLUMN rejecting_user;
ALTER TABLE claims RENAME COLUMN rejecting_user_address TO rejecting_user;
ALTER TABLE claims ADD COLUMN decided_by_user_address TEXT;
UPDATE claims SET decided_by_user_address = (CASE WHEN decided_by_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(decided_by_user AS TEXT) WHERE decided_by_user IS NOT NULL;
ALTER TABLE claims DROP COLUMN decided_by_user;
ALTER TABLE claims RENAME COLUMN decided_by_user_address TO decided_by_user;

-- evidence: chats and senders by address.
ALTER TABLE evidence ADD COLUMN sent_by_user_address TEXT;
UPDATE evidence SET sent_by_user_address = (CASE WHEN sent_by_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(sent_by_user AS TEXT) WHERE sent_by_user IS NOT NULL;
ALTER TABLE evidence DROP COLUMN sent_by_user;
ALTER TABLE evidence RENAME COLUMN sent_by_user_address TO sent_by_user;
ALTER TABLE evidence ADD COLUMN chat_id_address TEXT;
UPDATE evidence SET chat_id_address = (CASE WHEN chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(chat_id AS TEXT) WHERE chat_id IS NOT NULL;
ALTER TABLE evidence DROP COLUMN chat_id;
ALTER TABLE evidence RENAME COLUMN chat_id_address TO chat_id;

-- extension_requests: chats and senders by address.
ALTER TABLE extension_requests ADD COLUMN chat_id_address TEXT;
UPDATE extension_requests SET chat_id_address = (CASE WHEN chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(chat_id AS TEXT) WHERE chat_id IS NOT NULL;
ALTER TABLE extension_requests DROP COLUMN chat_id;
ALTER TABLE extension_requests RENAME COLUMN chat_id_address TO chat_id;
ALTER TABLE extension_requests ADD COLUMN requested_by_user_address TEXT;
UPDATE extension_requests SET requested_by_user_address = (CASE WHEN requested_by_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(requested_by_user AS TEXT) WHERE requested_by_user IS NOT NULL;
ALTER TABLE extension_requests DROP COLUMN requested_by_user;
ALTER TABLE extension_requests RENAME COLUMN requested_by_user_address TO requested_by_user;
ALTER TABLE extension_requests ADD COLUMN rejecting_user_address TEXT;
UPDATE extension_requests SET rejecting_user_address = (CASE WHEN rejecting_user IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(rejecting_user AS TEXT) WHERE rejecting_user IS NOT NULL;
ALTER TABLE extension_requests DROP COLUMN rejecting_user;
ALTER TABLE extension_requests RENAME COLUMN rejecting_user_address TO rejecting_user;

-- coordination_flags: chats and senders by address.
ALTER TABLE coordination_flags ADD COLUMN chat_id_address TEXT;
UPDATE coordination_flags SET chat_id_address = (CASE WHEN chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(chat_id AS TEXT) WHERE chat_id IS NOT NULL;
ALTER TABLE coordination_flags DROP COLUMN chat_id;
ALTER TABLE coordination_flags RENAME COLUMN chat_id_address TO chat_id;

-- history: chats and senders by address.
ALTER TABLE history ADD COLUMN chat_id_address TEXT;
UPDATE history SET chat_id_address = (CASE WHEN chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(chat_id AS TEXT) WHERE chat_id IS NOT NULL;
ALTER TABLE history DROP COLUMN chat_id;
ALTER TABLE history RENAME COLUMN chat_id_address TO chat_id;

-- invites: chats and senders by address.
ALTER TABLE invites ADD COLUMN used_by_address TEXT;
UPDATE invites SET used_by_address = (CASE WHEN used_by IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(used_by AS TEXT) WHERE used_by IS NOT NULL;
ALTER TABLE invites DROP COLUMN used_by;
ALTER TABLE invites RENAME COLUMN used_by_address TO used_by;
ALTER TABLE invites ADD COLUMN used_in_chat_address TEXT;
UPDATE invites SET used_in_chat_address = (CASE WHEN used_in_chat IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL) THEN 'console' ELSE 'telegram' END) || ':' || CAST(used_in_chat AS TEXT) WHERE used_in_chat IS NOT NULL;
ALTER TABLE invites DROP COLUMN used_in_chat;
ALTER TABLE invites RENAME COLUMN used_in_chat_address TO used_in_chat;

-- A unit's group chat on a channel.
CREATE TABLE unit_chats_new (
    unit_id INTEGER NOT NULL REFERENCES units (id),
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    bound_at TEXT NOT NULL,
    -- Who bound it, by address.
    bound_by TEXT NOT NULL,
    unreachable_at TEXT,
    PRIMARY KEY (unit_id, channel, chat_id)
);
INSERT INTO unit_chats_new (unit_id, channel, chat_id, bound_at, bound_by, unreachable_at)
    SELECT unit_id, 'telegram', CAST(chat_id AS TEXT), bound_at, 'telegram:' || CAST(bound_by AS TEXT), unreachable_at
    FROM unit_chats;
DROP TABLE unit_chats;
ALTER TABLE unit_chats_new RENAME TO unit_chats;
CREATE INDEX unit_chats_chat ON unit_chats (channel, chat_id);

-- The outbox: each row goes out on its channel, to a chat id there.
DROP INDEX outbox_message;
DROP INDEX outbox_pending_chat;
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
UPDATE outbox SET channel = 'console'
    WHERE chat_id IN (SELECT chat_id FROM people WHERE place = 'console' AND chat_id IS NOT NULL);
ALTER TABLE outbox ADD COLUMN chat_text TEXT NOT NULL DEFAULT '';
UPDATE outbox SET chat_text = CAST(chat_id AS TEXT);
ALTER TABLE outbox DROP COLUMN chat_id;
ALTER TABLE outbox RENAME COLUMN chat_text TO chat_id;
ALTER TABLE outbox ADD COLUMN message_text TEXT;
UPDATE outbox SET message_text = CAST(message_id AS TEXT) WHERE message_id IS NOT NULL;
ALTER TABLE outbox DROP COLUMN message_id;
ALTER TABLE outbox RENAME COLUMN message_text TO message_id;
CREATE INDEX outbox_message ON outbox (channel, chat_id, message_id);
CREATE INDEX outbox_pending_chat ON outbox (channel, chat_id, id) WHERE state = 'pending';

-- Updates applied, by channel; and where each channel's updates were read up to.
CREATE TABLE updates_new (
    channel TEXT NOT NULL,
    update_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (channel, update_id)
);
INSERT INTO updates_new (channel, update_id, received_at)
    SELECT 'telegram', CAST(update_id AS TEXT), received_at FROM updates;
CREATE TABLE cursors (
    channel TEXT PRIMARY KEY,
    last_update TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO cursors (channel, last_update, updated_at)
    SELECT c.channel, CAST(MAX(u.update_id) AS TEXT), MAX(u.received_at)
    FROM updates u, (SELECT 'telegram' AS channel UNION ALL SELECT 'console') c
    GROUP BY c.channel HAVING MAX(u.update_id) IS NOT NULL;
DROP TABLE updates;
ALTER TABLE updates_new RENAME TO updates;

-- People keep their role and place; their chat identities moved to `identities`.
DROP INDEX people_telegram;
ALTER TABLE people DROP COLUMN telegram_id;
ALTER TABLE people DROP COLUMN chat_id;
ALTER TABLE people DROP COLUMN bound_at;
ALTER TABLE people DROP COLUMN unreachable_at;
