-- A removed member's revocation, signed by their institution: clients check it before sealing
-- anything to them or trusting a new statement of theirs.
ALTER TABLE practitioners ADD COLUMN revocation TEXT;
