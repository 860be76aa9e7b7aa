-- Notification channels and their outbox. A practitioner's channels (a signed webhook, a
-- DingTalk robot) receive only a fixed text and a link, never health information. Each
-- notification is one outbox row per channel, deduplicated by (channel, dedupe key), claimed
-- by one replica at a time, retried with back-off, held back by a per-recipient rate limit and
-- given up on (failed_at, shown to the practitioner) after the configured attempts.
CREATE TABLE notify_channels (
    id TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    -- The HMAC key the hub signs with (the receiver holds it too).
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_delivered_at INTEGER,
    last_failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX notify_channels_practitioner ON notify_channels(practitioner_id);

CREATE TABLE notify_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    dedupe TEXT NOT NULL,
    at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_at INTEGER,
    delivered_at INTEGER,
    failed_at INTEGER,
    UNIQUE (channel_id, dedupe)
);
CREATE INDEX notify_outbox_due ON notify_outbox(next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX notify_outbox_recipient ON notify_outbox(practitioner_id, delivered_at);
