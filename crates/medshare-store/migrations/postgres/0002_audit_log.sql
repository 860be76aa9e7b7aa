-- The access log becomes a verifiable Merkle log (RFC 6962). Sequence numbers are assigned by
-- the appender inside its transaction (gap-free across replicas), so the identity goes; each
-- entry keeps the leaf digest computed when it was appended.
ALTER TABLE access_log ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE access_log ADD COLUMN detail TEXT;
ALTER TABLE access_log ADD COLUMN leaf TEXT;
CREATE INDEX access_log_patient ON access_log(patient_id, seq);
CREATE INDEX access_log_actor ON access_log(actor, at);

-- Signed tree heads, append-only like the log they commit to.
CREATE TABLE audit_heads (
    size BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    root TEXT NOT NULL,
    log_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE FUNCTION medshare_audit_heads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_heads is append-only';
END;
$$;
CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION medshare_audit_heads_append_only();
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION medshare_audit_heads_append_only();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION medshare_audit_heads_append_only();

-- Where a patient asked to be told about reads of their records.
CREATE TABLE patient_contacts (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    set_by TEXT NOT NULL REFERENCES practitioners(id),
    set_at BIGINT NOT NULL
);

-- Access notices waiting for delivery (time, reading institution, entry reference only).
CREATE TABLE contact_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    institution_id TEXT,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    delivered_at BIGINT,
    failed_at BIGINT
);
CREATE INDEX contact_outbox_due ON contact_outbox(next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX contact_outbox_recent ON contact_outbox(patient_id, institution_id, at);

-- Alerts raised to privacy officers, one per rule, practitioner and window.
CREATE TABLE audit_alerts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule TEXT NOT NULL,
    actor TEXT NOT NULL,
    institution_id TEXT,
    at BIGINT NOT NULL,
    count BIGINT NOT NULL
);
CREATE INDEX audit_alerts_lookup ON audit_alerts(rule, actor, at);
