-- A staged upload claims the document id it will be committed as before its bytes are promoted:
-- two commits naming one id cannot both promote (the second would overwrite the first's bytes).
ALTER TABLE staged_uploads ADD COLUMN document_id TEXT;
CREATE UNIQUE INDEX staged_uploads_document ON staged_uploads(document_id);
