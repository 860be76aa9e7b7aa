-- Who claimed whose MLS key packages, and when: claims are rate limited per (claimer, target)
-- and per target, so one clinician cannot drain a colleague's waiting key packages. Rows older
-- than the window are deleted as new claims of the same target are recorded.
CREATE TABLE key_package_claims (
    id BIGSERIAL PRIMARY KEY,
    claimer TEXT NOT NULL REFERENCES practitioners(id),
    target TEXT NOT NULL REFERENCES practitioners(id),
    at BIGINT NOT NULL
);
CREATE INDEX key_package_claims_target ON key_package_claims(target, at);
