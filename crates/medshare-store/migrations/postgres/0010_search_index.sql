-- Search pages (`documents_page`): newest first by (created_at, id), a cursor being a position
-- in that order, so a page is an index range scan of about a page of rows. Ids compare byte by
-- byte (COLLATE "C"), as the hub orders them, whatever the database's collation.
-- documents_patient (created_at, seq) stays for documents_of_patient (commit order).
CREATE INDEX documents_search ON documents(patient_id, created_at DESC, id COLLATE "C" DESC);
