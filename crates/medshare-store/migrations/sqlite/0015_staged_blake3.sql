-- The BLAKE3 of a staged upload's bytes, as the hub computed it while receiving them: what a
-- document binding names since the seventh session (checked at commit, as `sha256` is for older
-- bindings). NULL for uploads staged before this migration; their bindings name SHA-256.
ALTER TABLE staged_uploads ADD COLUMN blake3 TEXT;
