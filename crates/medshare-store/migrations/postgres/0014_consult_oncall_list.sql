-- A consult to an on-call list keeps the signed list its requester's binding names (JSON of a
-- Signed, exactly as the institution signed it), so every recipient can check the chain and
-- their place on it, even after the list is replaced. NULL for consults to a named colleague
-- and for consults asked before this migration.
ALTER TABLE consults ADD COLUMN oncall_list TEXT;
