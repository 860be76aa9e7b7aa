//! Trust: the pinned alliance root and verification of every certificate chain before a key is
//! used. A hub that substitutes a public key, a certificate or an epoch key is refused here.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::memory::Remembered;
use medshare_crypto::chain::{self, VerifiedInstitution, VerifiedPractitioner};
use medshare_model::api::{AllianceInfo, InstitutionKeys, PractitionerPublic};
use medshare_model::statements::{AllianceKey, InstitutionEpochKey, decode_key, fingerprint};
use medshare_model::{InstitutionId, PractitionerId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Fetch the hub's alliance root and check it against the pinned one (trust on first use when
/// nothing is pinned yet). Returns the root key and the verified alliance key.
pub async fn alliance_root(hub: &Hub, pinned: Option<[u8; 32]>) -> Result<([u8; 32], AllianceKey)> {
    let info: AllianceInfo = hub.get("/v1/alliance").await?;
    let root = decode_key(&info.root_public).ok_or(ClientError::Trust(
        "the hub's alliance root key is malformed",
    ))?;
    if let Some(p) = pinned
        && p != root
    {
        return Err(ClientError::Trust(
            "the hub's alliance root key differs from the one pinned on first contact",
        ));
    }
    let key = chain::verify_alliance_key(&root, &info.alliance_key)
        .map_err(|_| ClientError::Trust("the alliance key is not signed by the alliance root"))?;
    Ok((root, key))
}

/// Human-comparable fingerprint of the root key.
pub fn root_fingerprint(root: &[u8; 32]) -> String {
    fingerprint(root)
}

/// Verified keys, cached for the life of a client, and what the client remembers so that
/// nothing can roll back ([`Remembered`]).
pub struct Trust {
    root: [u8; 32],
    institutions: Mutex<HashMap<InstitutionId, VerifiedInstitution>>,
    practitioners: Mutex<HashMap<PractitionerId, VerifiedPractitioner>>,
    memory: Remembered,
}

impl Trust {
    /// Trust anchored at the alliance root key `root`.
    pub fn new(root: [u8; 32]) -> Self {
        Self {
            root,
            institutions: Mutex::new(HashMap::new()),
            practitioners: Mutex::new(HashMap::new()),
            memory: Remembered::default(),
        }
    }

    /// The pinned alliance root key.
    pub fn root(&self) -> &[u8; 32] {
        &self.root
    }

    /// The monotonic facts this client holds the hub to.
    pub fn memory(&self) -> &Remembered {
        &self.memory
    }

    pub(crate) fn set_memory(&mut self, memory: Remembered) {
        self.memory = memory;
    }

    fn institution_cert(
        &self,
        id: InstitutionId,
        cert: Option<&medshare_model::statements::Signed>,
    ) -> Result<VerifiedInstitution> {
        if let Some(v) = self.institutions.lock().expect("poisoned").get(&id) {
            return Ok(v.clone());
        }
        let cert = cert.ok_or(ClientError::Trust(
            "the institution is not certified by the alliance",
        ))?;
        let v = chain::verify_institution(&self.root, cert).map_err(|_| {
            ClientError::Trust(
                "an institution certificate does not verify against the alliance root",
            )
        })?;
        if v.cert.institution_id != id {
            return Err(ClientError::Trust(
                "an institution certificate names another institution",
            ));
        }
        self.institutions
            .lock()
            .expect("poisoned")
            .insert(id, v.clone());
        Ok(v)
    }

    /// Verify a practitioner's chain: alliance root -> institution -> practitioner, and a
    /// revocation if the hub serves one (remembered from then on: see [`Trust::revoked_at`]).
    pub fn practitioner(&self, p: &PractitionerPublic) -> Result<VerifiedPractitioner> {
        if let Some(r) = &p.revocation {
            let inst = self.institution_cert(p.institution_id, p.institution_cert.as_ref())?;
            let r = chain::verify_revocation(&inst, p.practitioner_id, r)
                .map_err(|_| ClientError::Trust("a practitioner's revocation does not verify"))?;
            self.memory.revoked(p.practitioner_id, r.revoked_at)?;
        }
        if let Some(v) = self
            .practitioners
            .lock()
            .expect("poisoned")
            .get(&p.practitioner_id)
        {
            return Ok(v.clone());
        }
        let inst = self.institution_cert(p.institution_id, p.institution_cert.as_ref())?;
        let cert = p.cert.as_ref().ok_or(ClientError::Trust(
            "that practitioner has not been certified by their institution",
        ))?;
        let v = chain::verify_practitioner(&inst, cert).map_err(|_| {
            ClientError::Trust(
                "a practitioner certificate does not verify: the hub may have substituted a key",
            )
        })?;
        if v.cert.practitioner_id != p.practitioner_id || v.cert.handle != p.handle {
            return Err(ClientError::Trust(
                "a practitioner certificate names someone else",
            ));
        }
        self.practitioners
            .lock()
            .expect("poisoned")
            .insert(p.practitioner_id, v.clone());
        Ok(v)
    }

    /// A practitioner by id, fetched and verified.
    pub async fn fetch_practitioner(
        &self,
        hub: &Hub,
        id: PractitionerId,
    ) -> Result<VerifiedPractitioner> {
        if let Some(v) = self.practitioners.lock().expect("poisoned").get(&id) {
            return Ok(v.clone());
        }
        let p: PractitionerPublic = hub.get(&format!("/v1/practitioners/{id}")).await?;
        if p.practitioner_id != id {
            return Err(ClientError::Trust(
                "the hub answered with another practitioner than the one asked for",
            ));
        }
        let v = self.practitioner(&p)?;
        if v.cert.practitioner_id != id {
            return Err(ClientError::Trust(
                "the hub answered with another practitioner than the one asked for",
            ));
        }
        Ok(v)
    }

    /// Since when a practitioner's institution revoked them, if this client ever saw it.
    pub fn revoked_at(&self, id: PractitionerId) -> Option<i64> {
        self.memory.revoked_at(id)
    }

    /// Refuse a practitioner their institution removed.
    pub fn require_current(&self, p: &VerifiedPractitioner) -> Result<()> {
        match self.revoked_at(p.cert.practitioner_id) {
            Some(_) => Err(ClientError::Trust(
                "that practitioner was removed by their institution",
            )),
            None => Ok(()),
        }
    }

    /// An institution certificate this client verified earlier (kept in its sealed timeline
    /// cache); one verified in this session already stays.
    pub(crate) fn remember_institution(&self, v: VerifiedInstitution) {
        self.institutions
            .lock()
            .expect("poisoned")
            .entry(v.cert.institution_id)
            .or_insert(v);
    }

    /// The verified institution certificate behind a verified practitioner (cached when the
    /// practitioner was verified).
    pub fn institution_cert_of(&self, p: &VerifiedPractitioner) -> Option<VerifiedInstitution> {
        self.institutions
            .lock()
            .expect("poisoned")
            .get(&p.cert.institution_id)
            .cloned()
    }

    /// An institution's verified certificate and its current (latest) epoch key.
    pub async fn institution(
        &self,
        hub: &Hub,
        id: InstitutionId,
    ) -> Result<(VerifiedInstitution, InstitutionEpochKey)> {
        let keys: InstitutionKeys = hub.get(&format!("/v1/institutions/{id}")).await?;
        let v = self.institution_cert(id, keys.cert.as_ref())?;
        let latest = keys
            .epochs
            .last()
            .ok_or(ClientError::Trust("the institution has no encryption key"))?;
        let epoch = chain::verify_epoch_key(&v, latest).map_err(|_| {
            ClientError::Trust("an institution key is not signed by its institution")
        })?;
        if epoch.epoch as usize != keys.epochs.len() {
            return Err(ClientError::Trust(
                "the institution's key epochs are out of order",
            ));
        }
        // A truncated list would make us seal to a key a removed member still holds.
        self.memory.institution_epoch(id, epoch.epoch)?;
        Ok((v, epoch))
    }
}
