//! What a client keeps on the practitioner's device between visits and that could identify a
//! patient (remembered patient references, cached manifests): sealed to the practitioner's own
//! key, so it opens only after login, and only for that practitioner.

use crate::error::{ClientError, Result};
use crate::memory::{Memory, Remembered};
use crate::session::Client;
use medshare_crypto::seal::{open_bytes, seal_bytes};
use zeroize::Zeroizing;

impl Client {
    /// The alliance's certified clinicians, each certificate verified to the pinned root (any
    /// that does not verify is left out), sorted by name: whom a document can be shared with.
    pub async fn colleagues(&self) -> Result<Vec<medshare_crypto::chain::VerifiedPractitioner>> {
        let list: Vec<medshare_model::api::PractitionerPublic> =
            self.hub.get("/v1/practitioners").await?;
        let mut out: Vec<_> = list
            .iter()
            .filter_map(|p| self.trust.practitioner(p).ok())
            .filter(|v| v.cert.practitioner_id != self.me)
            .collect();
        out.sort_by(|a, b| a.cert.name.cmp(&b.cert.name));
        Ok(out)
    }

    /// Seal `plaintext` for this practitioner's own device storage.
    pub fn seal_local(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        Ok(seal_bytes(&[self.recipient()], plaintext)?)
    }

    /// Open what [`Client::seal_local`] sealed.
    pub fn open_local(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Ok(open_bytes(&self.keys.encryption, sealed)?)
    }

    /// What this client remembers (patient key chains, institution epochs), sealed for device
    /// storage.
    pub fn sealed_memory(&self) -> Result<Vec<u8>> {
        let json = Zeroizing::new(
            serde_json::to_vec(&self.trust.memory().snapshot())
                .map_err(|_| ClientError::Invalid("memory".into()))?,
        );
        self.seal_local(&json)
    }

    /// Continue from memory sealed by [`Client::sealed_memory`] on this device.
    pub fn resume_memory(self, sealed: &[u8]) -> Result<Self> {
        let json = self.open_local(sealed)?;
        let memory: Memory = serde_json::from_slice(&json).map_err(|_| {
            ClientError::Invalid("the remembered facts on this device are corrupt".into())
        })?;
        Ok(self.remember_with(Remembered::new(memory, None)))
    }
}
