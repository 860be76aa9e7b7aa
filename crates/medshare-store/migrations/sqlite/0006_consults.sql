-- Urgent consults and on-call lists. The question is an age file sealed by the requester to
-- everyone the consult may reach; the hub keeps who asks whom, about which pseudonymous
-- patient, the escalation chain and its timer. The timer lives here, not in a replica's
-- memory: `due_at` is when the current recipient's window ends, and a replica claims a due
-- consult (claimed_by/claimed_at, taken over once the claim is stale) before escalating it,
-- so a restart loses nothing and several replicas escalate once.
CREATE TABLE oncall_lists (
    institution_id TEXT NOT NULL REFERENCES institutions(id),
    name TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES practitioners(id),
    -- JSON array of practitioner ids, in the order they are tried.
    members TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (institution_id, name)
);

CREATE TABLE consults (
    id TEXT PRIMARY KEY,
    requester TEXT NOT NULL REFERENCES practitioners(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- JSON: the named colleague or on-call list it was asked of.
    target TEXT NOT NULL,
    -- JSON array of practitioner ids: everyone it may reach, in escalation order.
    chain TEXT NOT NULL,
    -- Index in chain of the recipient it has reached.
    step INTEGER NOT NULL,
    -- open, acknowledged or unanswered.
    state TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    ack_within INTEGER NOT NULL,
    due_at INTEGER,
    claimed_by TEXT,
    claimed_at INTEGER,
    created_at INTEGER NOT NULL,
    acked_by TEXT REFERENCES practitioners(id),
    room_id TEXT REFERENCES rooms(id),
    -- The requester's signed binding (JSON) and the sealed question (base64).
    binding TEXT NOT NULL,
    question TEXT NOT NULL
);
CREATE INDEX consults_due ON consults(due_at) WHERE state = 'open';
CREATE INDEX consults_requester ON consults(requester, created_at);

-- Who a consult may reach, for "consults of a practitioner".
CREATE TABLE consult_recipients (
    consult_id TEXT NOT NULL REFERENCES consults(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (consult_id, practitioner_id)
);
CREATE INDEX consult_recipients_practitioner ON consult_recipients(practitioner_id);

-- Every step (requested, escalated, acknowledged, unanswered, answered), in order.
CREATE TABLE consult_steps (
    consult_id TEXT NOT NULL REFERENCES consults(id),
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    PRIMARY KEY (consult_id, seq)
);
