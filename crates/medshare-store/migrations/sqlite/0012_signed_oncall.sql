-- On-call lists signed by the institution: the statement exactly as its administrator signed
-- it (JSON of a Signed), served as given, and its version (a replacement must be newer). Lists
-- set before this migration keep a NULL statement and version 0: clients refuse them until an
-- administrator signs them again with `medshare oncall set`.
ALTER TABLE oncall_lists ADD COLUMN statement TEXT;
ALTER TABLE oncall_lists ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Room attachment quotas count a sender's stored bytes across rooms (`[limits]`
-- room_attachment_bytes_per_member); the per-room count uses room_blobs_room.
CREATE INDEX room_blobs_sender ON room_blobs(sender);
