-- Web Push channels: a push service answers 404/410 once the browser's subscription is gone
-- (RFC 8030 §7.3); the hub then disables the channel (no more notifications are queued for it)
-- and shows why, until the practitioner removes it or subscribes again.
ALTER TABLE notify_channels ADD COLUMN disabled_at BIGINT;
