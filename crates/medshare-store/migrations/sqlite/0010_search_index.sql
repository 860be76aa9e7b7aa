-- Search pages (`documents_page`): newest first by (created_at, id), a cursor being a position
-- in that order, so a page is an index range scan of about a page of rows. SQLite compares
-- text byte by byte (BINARY), as the hub orders ids. Supersedes documents_patient.
CREATE INDEX documents_search ON documents(patient_id, created_at DESC, id DESC);
DROP INDEX documents_patient;
