-- medshare metadata schema (PostgreSQL). Same tables and meaning as migrations/sqlite: the hub
-- stores routing metadata, signed public statements and ciphertext only, nothing here is
-- readable health information. Ids are text (UUIDs as the SQLite store writes them), times are
-- Unix seconds (BIGINT), flags are 0/1 so both stores share one row mapping.

CREATE TABLE alliance (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    root_public TEXT NOT NULL,
    alliance_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE root_nonces (
    nonce TEXT PRIMARY KEY,
    used_at BIGINT NOT NULL
);

CREATE TABLE institutions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    sign_public TEXT,
    cert TEXT,
    alliance_wrap TEXT,
    alliance_wrap_epoch BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE institution_epochs (
    institution_id TEXT NOT NULL REFERENCES institutions(id),
    epoch BIGINT NOT NULL,
    statement TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (institution_id, epoch)
);

CREATE TABLE practitioners (
    id TEXT PRIMARY KEY,
    institution_id TEXT NOT NULL REFERENCES institutions(id),
    handle TEXT NOT NULL UNIQUE,
    details TEXT NOT NULL,
    -- invited -> enrolled -> certified -> removed
    status TEXT NOT NULL,
    enrolment_hash TEXT UNIQUE,
    enrolment_expires BIGINT,
    creates_institution_keys BIGINT NOT NULL DEFAULT 0 CHECK (creates_institution_keys IN (0, 1)),
    kdf TEXT,
    credential_hash TEXT,
    key_bundle TEXT,
    sign_public TEXT,
    recipient TEXT,
    cert TEXT,
    keyring_wrap TEXT,
    totp_secret TEXT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX practitioners_institution ON practitioners(institution_id, status);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX sessions_practitioner ON sessions(practitioner_id);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES practitioners(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE patient_refs (
    ref TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id)
);
CREATE INDEX patient_refs_patient ON patient_refs(patient_id);

CREATE TABLE patient_key_epochs (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    epoch BIGINT NOT NULL,
    statement TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (patient_id, epoch)
);

-- holder is an institution id or the literal 'alliance'
CREATE TABLE patient_consents (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    holder TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (patient_id, holder)
);

-- holder_kind: institution | alliance ; holder_id '' for the alliance
CREATE TABLE patient_key_wraps (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    patient_epoch BIGINT NOT NULL,
    holder_kind TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    holder_epoch BIGINT NOT NULL,
    wrap TEXT NOT NULL,
    PRIMARY KEY (patient_id, patient_epoch, holder_kind, holder_id, holder_epoch)
);

CREATE TABLE care_relationships (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    declared_by TEXT NOT NULL,
    declared_at BIGINT NOT NULL,
    PRIMARY KEY (patient_id, practitioner_id)
);

CREATE TABLE break_glass (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    reason TEXT NOT NULL,
    reason_epoch BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX break_glass_lookup ON break_glass(patient_id, practitioner_id, expires_at);

CREATE TABLE staged_uploads (
    id TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- seq orders documents committed in the same second (SQLite uses its rowid).
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    uploader TEXT NOT NULL REFERENCES practitioners(id),
    institution_id TEXT NOT NULL REFERENCES institutions(id),
    size BIGINT NOT NULL,
    ciphertext_sha256 TEXT NOT NULL,
    manifest TEXT NOT NULL,
    binding TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- The search-by-patient query: WHERE patient_id = $1 ORDER BY created_at DESC, seq DESC.
CREATE INDEX documents_patient ON documents(patient_id, created_at DESC, seq DESC);

-- holder_kind: practitioner | patient ; holder_epoch is the patient key epoch
CREATE TABLE document_key_wraps (
    document_id TEXT NOT NULL REFERENCES documents(id),
    holder_kind TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    holder_epoch BIGINT NOT NULL,
    wrap TEXT NOT NULL,
    PRIMARY KEY (document_id, holder_kind, holder_id, holder_epoch)
);

CREATE TABLE grants (
    document_id TEXT NOT NULL REFERENCES documents(id),
    grantee TEXT NOT NULL REFERENCES practitioners(id),
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    PRIMARY KEY (document_id, grantee)
);
CREATE INDEX grants_grantee ON grants(grantee);

CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_recipient ON events(recipient, seq);

-- Every stored notification is announced to all hub replicas on commit. The payload is the
-- recipient's practitioner id and the event's sequence number, never the event body.
CREATE FUNCTION medshare_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medshare_events', NEW.recipient || ' ' || NEW.seq::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION medshare_event_notify();

-- Every access decision, allowed or denied. Append-only: the triggers refuse edits.
CREATE TABLE access_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT,
    institution_id TEXT,
    action TEXT NOT NULL,
    document_id TEXT,
    patient_id TEXT,
    outcome TEXT NOT NULL,
    basis TEXT NOT NULL
);
CREATE FUNCTION medshare_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only';
END;
$$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
    FOR EACH ROW EXECUTE FUNCTION medshare_access_log_append_only();
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION medshare_access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION medshare_access_log_append_only();
