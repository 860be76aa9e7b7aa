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
    created_at BIGINT NOT NULL,
    last_delivered_at BIGINT,
    last_failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX notify_channels_practitioner ON notify_channels(practitioner_id);

CREATE TABLE notify_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    dedupe TEXT NOT NULL,
    at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_at BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    UNIQUE (channel_id, dedupe)
);
CREATE INDEX notify_outbox_due ON notify_outbox(next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX notify_outbox_recipient ON notify_outbox(practitioner_id, delivered_at);
