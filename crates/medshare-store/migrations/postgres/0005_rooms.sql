-- Case rooms: the hub is the MLS delivery service. It keeps each practitioner's key packages
-- (each handed out once), orders every room's handshake and application messages in one log
-- (commits accepted only for the room's current epoch), routes welcomes to added members and
-- stops serving a removed member past their removal. Every body is MLS ciphertext or an MLS
-- public message the hub does not interpret.
CREATE TABLE key_packages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX key_packages_owner ON key_packages(practitioner_id, id);

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES practitioners(id),
    -- The epoch the next commit must be for, and the latest entry's sequence number.
    epoch BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE room_members (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    -- The member reads entries after from_seq (the commit that added them) up to until_seq
    -- (the commit that removed them), and reported everything up to read_seq as read.
    from_seq BIGINT NOT NULL,
    until_seq BIGINT,
    read_seq BIGINT NOT NULL,
    PRIMARY KEY (room_id, practitioner_id)
);
CREATE INDEX room_members_practitioner ON room_members(practitioner_id);

CREATE TABLE room_entries (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (room_id, seq)
);

CREATE TABLE room_welcomes (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (room_id, practitioner_id, seq)
);
