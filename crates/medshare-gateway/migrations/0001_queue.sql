-- The gateway's durable queue. Payloads are age ciphertext sealed to the gateway's own key;
-- nothing here is readable without the key file. Times are unix milliseconds.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE items (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Chosen when the item is accepted: the hub refuses a second commit of one id, so an item
    -- is filed exactly once however often its upload is retried.
    document_id     TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,                -- hl7 | dicom | fhir | folder
    kind            TEXT NOT NULL,                -- document | patient | study
    state           TEXT NOT NULL,                -- collecting | ready | uploading | done | dead
    -- DICOM: keyed hash of the study instance UID while its instances are collected.
    group_key       TEXT,
    parts           INTEGER NOT NULL DEFAULT 0,
    -- Keyed hash of (sender, control id, content): a message sent again is not filed twice.
    dedupe_key      TEXT UNIQUE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    -- Fixed code of the last failure, never content.
    error           TEXT,
    -- A commit may have reached the hub: ask it before uploading again.
    committing      INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    payload         BLOB
);
CREATE INDEX items_ready ON items(state, next_attempt_ms);
CREATE INDEX items_collecting ON items(group_key) WHERE state = 'collecting';

CREATE TABLE parts (
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    -- Keyed hash of the SOP instance UID: an instance sent twice is kept once.
    part_key TEXT NOT NULL,
    size     INTEGER NOT NULL,
    payload  BLOB NOT NULL,
    PRIMARY KEY (item_id, part_key)
);
