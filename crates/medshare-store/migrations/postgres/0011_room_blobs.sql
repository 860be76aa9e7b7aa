-- Room attachments (voice notes): ciphertext the hub stores for a room and serves to its
-- current members only. The key is inside the room's MLS messages; the hub sees the room,
-- sender, time and size.
CREATE TABLE room_blobs (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    sender TEXT NOT NULL REFERENCES practitioners(id),
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX room_blobs_room ON room_blobs(room_id);
