-- The access log becomes a verifiable Merkle log (RFC 6962). Each entry keeps the leaf digest
-- computed when it was appended, so a verifier can point at an entry edited afterwards.
ALTER TABLE access_log ADD COLUMN detail TEXT;
ALTER TABLE access_log ADD COLUMN leaf TEXT;
CREATE INDEX access_log_patient ON access_log(patient_id, seq);
CREATE INDEX access_log_actor ON access_log(actor, at);

-- Signed tree heads. Append-only like the log they commit to.
CREATE TABLE audit_heads (
    size INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    root TEXT NOT NULL,
    log_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'audit_heads is append-only'); END;
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'audit_heads is append-only'); END;

-- Where a patient asked to be told about reads of their records (e-mail or webhook).
CREATE TABLE patient_contacts (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    set_by TEXT NOT NULL REFERENCES practitioners(id),
    set_at INTEGER NOT NULL
);

-- Access notices waiting for delivery to the patient's contact. No health information: the
-- time, the reading institution and the audit entry's sequence number.
CREATE TABLE contact_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    institution_id TEXT,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    delivered_at INTEGER,
    failed_at INTEGER
);
CREATE INDEX contact_outbox_due ON contact_outbox(delivered_at, failed_at, next_at);
CREATE INDEX contact_outbox_recent ON contact_outbox(patient_id, institution_id, at);

-- Alerts raised to privacy officers, so one pattern raises one alert per window.
CREATE TABLE audit_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    actor TEXT NOT NULL,
    institution_id TEXT,
    at INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX audit_alerts_lookup ON audit_alerts(rule, actor, at);
