//! Patients: resolving an identifier to a patient record (creating it, with a new patient key,
//! when this institution sees the patient first), consent, care relationships and break-glass.

use crate::error::{ClientError, Result};
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::EncryptionKey;
use medshare_crypto::chain::verify_patient_key_epoch;
use medshare_crypto::seal::{open_bytes, seal_bytes, unwrap_key, wrap_key};
use medshare_model::api::*;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::statements::PatientKeyEpoch;
use medshare_model::{ErrorCode, InstitutionId, PatientId, PatientRef};
use std::collections::BTreeMap;

/// A patient with verified key epochs.
pub struct Patient {
    pub view: PatientView,
    /// Verified epoch statements, by epoch.
    pub epochs: BTreeMap<u32, PatientKeyEpoch>,
    /// The reference used to find the patient.
    pub patient_ref: PatientRef,
}

impl Patient {
    pub fn id(&self) -> PatientId {
        self.view.patient_id
    }

    /// The current epoch and its recipient.
    pub fn current(&self) -> Result<(u32, &str)> {
        self.epochs
            .iter()
            .next_back()
            .map(|(e, k)| (*e, k.recipient.as_str()))
            .ok_or(ClientError::Trust("the patient has no key"))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Who a consent goes to.
#[derive(Clone, Debug)]
pub enum ConsentTarget {
    Institution(InstitutionId),
    Alliance,
}

impl Client {
    /// Verify every key epoch of a patient view.
    pub(crate) async fn verify_patient(
        &self,
        view: PatientView,
        patient_ref: PatientRef,
    ) -> Result<Patient> {
        let mut epochs = BTreeMap::new();
        for s in &view.key_epochs {
            let claimed: PatientKeyEpoch = s
                .payload_as()
                .map_err(|_| ClientError::Trust("a patient key statement is malformed"))?;
            let signer = self
                .trust
                .fetch_practitioner(&self.hub, claimed.signed_by)
                .await?;
            let k = verify_patient_key_epoch(&signer, s).map_err(|_| {
                ClientError::Trust("a patient key is not signed by a certified practitioner")
            })?;
            if k.patient_id != view.patient_id {
                return Err(ClientError::Trust(
                    "a patient key belongs to another patient",
                ));
            }
            epochs.insert(k.epoch, k);
        }
        if epochs.is_empty() || epochs.keys().copied().ne(1..=epochs.len() as u32) {
            return Err(ClientError::Trust(
                "the patient's key epochs are incomplete",
            ));
        }
        Ok(Patient {
            view,
            epochs,
            patient_ref,
        })
    }

    /// Find a patient by identifier (keyed hash only leaves this machine).
    pub async fn find_patient(&self, id: &PatientIdentifier) -> Result<Option<Patient>> {
        let r = self.context().await?.patient_ref(id);
        match self
            .hub
            .post::<_, PatientView>(
                "/v1/patients/lookup",
                &PatientLookup {
                    refs: vec![r.clone()],
                },
            )
            .await
        {
            Ok(v) => Ok(Some(self.verify_patient(v, r).await?)),
            Err(e) if e.code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Find the patient or register them with a new patient key sealed to this institution.
    pub async fn ensure_patient(
        &self,
        id: &PatientIdentifier,
        card: &PatientCard,
    ) -> Result<Patient> {
        if let Some(p) = self.find_patient(id).await? {
            return Ok(p);
        }
        let ctx = self.context().await?;
        let r = ctx.patient_ref(id);
        let patient_id = PatientId::new();
        let key = EncryptionKey::generate();
        let key_epoch = self.keys.signing.sign_statement(&PatientKeyEpoch {
            patient_id,
            epoch: 1,
            recipient: key.recipient(),
            signed_by: self.me,
            issued_at: now(),
        });
        let inst = ctx.institution.cert.institution_id;
        let (_, epoch) = self.trust.institution(&self.hub, inst).await?;
        let card_json =
            serde_json::to_vec(card).map_err(|_| ClientError::Invalid("patient card".into()))?;
        let req = NewPatient {
            patient_id,
            refs: vec![r.clone()],
            key_epoch,
            wraps: vec![PatientKeyWrap {
                patient_epoch: 1,
                holder: Holder::Institution {
                    id: inst,
                    epoch: epoch.epoch,
                },
                wrap: wrap_key(&epoch.recipient, &key)?,
            }],
            card: B64.encode(seal_bytes(&[key.recipient()], &card_json)?),
        };
        match self.hub.post::<_, PatientView>("/v1/patients", &req).await {
            Ok(v) => self.verify_patient(v, r).await,
            // Someone registered the same patient at the same moment: use theirs.
            Err(e) if e.code() == Some(ErrorCode::Conflict) => self.find_patient(id).await?.ok_or(
                ClientError::Invalid("the patient could not be registered".into()),
            ),
            Err(e) => Err(e),
        }
    }

    /// Open every patient key epoch this practitioner can reach (through their institution or
    /// the alliance), checking each against its signed statement.
    pub async fn patient_keys(&self, p: &Patient) -> Result<BTreeMap<u32, EncryptionKey>> {
        let ctx = self.context().await?;
        let inst = ctx.institution.cert.institution_id;
        let mut out = BTreeMap::new();
        for w in &p.view.wraps {
            let opener = match &w.holder {
                Holder::Institution { id, epoch } if *id == inst => ctx.epochs.get(epoch),
                Holder::Alliance => Some(&ctx.alliance),
                _ => None,
            };
            let Some(opener) = opener else { continue };
            let key = unwrap_key(opener, &w.wrap)?;
            let expected = p.epochs.get(&w.patient_epoch).ok_or(ClientError::Trust(
                "a patient key wrap names an unknown epoch",
            ))?;
            if key.recipient() != expected.recipient {
                return Err(ClientError::Trust(
                    "a patient key wrap does not match the signed patient key",
                ));
            }
            out.insert(w.patient_epoch, key);
        }
        Ok(out)
    }

    /// The patient card, if this practitioner holds the patient key.
    pub async fn patient_card(&self, p: &Patient) -> Result<Option<PatientCard>> {
        let keys = self.patient_keys(p).await?;
        let card = B64
            .decode(&p.view.card)
            .map_err(|_| ClientError::Trust("the patient card is malformed"))?;
        for k in keys.values() {
            if let Ok(plain) = open_bytes(k, &card) {
                return Ok(Some(serde_json::from_slice(&plain).map_err(|_| {
                    ClientError::Trust("the patient card is malformed")
                })?));
            }
        }
        Ok(None)
    }

    async fn target_recipient(&self, t: &ConsentTarget) -> Result<(Holder, String)> {
        match t {
            ConsentTarget::Institution(id) => {
                let (_, epoch) = self.trust.institution(&self.hub, *id).await?;
                Ok((
                    Holder::Institution {
                        id: *id,
                        epoch: epoch.epoch,
                    },
                    epoch.recipient,
                ))
            }
            ConsentTarget::Alliance => {
                let (_, key) =
                    crate::trust::alliance_root(&self.hub, Some(*self.trust.root())).await?;
                Ok((Holder::Alliance, key.recipient))
            }
        }
    }

    /// Record consent to share with an institution or the whole alliance: every patient key
    /// epoch is sealed to the new holder.
    pub async fn grant_consent(&self, p: &Patient, to: &ConsentTarget) -> Result<()> {
        let keys = self.patient_keys(p).await?;
        if keys.len() != p.epochs.len() {
            return Err(ClientError::Invalid(
                "you need access to every epoch of the patient key to extend consent".into(),
            ));
        }
        let (holder, recipient) = self.target_recipient(to).await?;
        let wraps = keys
            .iter()
            .map(|(e, k)| {
                Ok(PatientKeyWrap {
                    patient_epoch: *e,
                    holder: holder.clone(),
                    wrap: wrap_key(&recipient, k)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let to = match to {
            ConsentTarget::Institution(id) => ConsentHolder::Institution { id: *id },
            ConsentTarget::Alliance => ConsentHolder::Alliance,
        };
        self.hub
            .post_unit(
                &format!("/v1/patients/{}/consent", p.id()),
                &ConsentGrant { to, wraps },
            )
            .await
    }

    /// Withdraw consent: the hub deletes the holder's wraps, and a new patient key epoch sealed
    /// to the remaining holders protects everything uploaded from now on.
    pub async fn revoke_consent(&self, p: &Patient, from: &ConsentTarget) -> Result<()> {
        let from_holder = match from {
            ConsentTarget::Institution(id) => ConsentHolder::Institution { id: *id },
            ConsentTarget::Alliance => ConsentHolder::Alliance,
        };
        let next = p.current()?.0 + 1;
        let key = EncryptionKey::generate();
        let new_epoch = self.keys.signing.sign_statement(&PatientKeyEpoch {
            patient_id: p.id(),
            epoch: next,
            recipient: key.recipient(),
            signed_by: self.me,
            issued_at: now(),
        });
        let mut wraps = Vec::new();
        for h in p.view.consent.iter().filter(|h| **h != from_holder) {
            let t = match h {
                ConsentHolder::Institution { id } => ConsentTarget::Institution(*id),
                ConsentHolder::Alliance => ConsentTarget::Alliance,
            };
            let (holder, recipient) = self.target_recipient(&t).await?;
            wraps.push(PatientKeyWrap {
                patient_epoch: next,
                holder,
                wrap: wrap_key(&recipient, &key)?,
            });
        }
        self.hub
            .post_unit(
                &format!("/v1/patients/{}/consent/revoke", p.id()),
                &ConsentRevoke {
                    from: from_holder,
                    new_epoch,
                    wraps,
                },
            )
            .await
    }

    /// Declare a care relationship (for oneself, or a colleague of the same institution).
    pub async fn declare_care(
        &self,
        p: &Patient,
        practitioner: Option<medshare_model::PractitionerId>,
    ) -> Result<()> {
        self.hub
            .post_unit(
                &format!("/v1/patients/{}/care", p.id()),
                &CareRequest { practitioner },
            )
            .await
    }

    /// Open break-glass access. The reason is sealed to this institution's key: its privacy
    /// officers can read it, the hub cannot.
    pub async fn break_glass(&self, p: &Patient, reason: &str) -> Result<BreakGlassGranted> {
        if reason.trim().is_empty() {
            return Err(ClientError::Invalid(
                "a reason is required for break-glass access".into(),
            ));
        }
        let inst = self.context().await?.institution.cert.institution_id;
        let (_, epoch) = self.trust.institution(&self.hub, inst).await?;
        let sealed = seal_bytes(std::slice::from_ref(&epoch.recipient), reason.as_bytes())?;
        self.hub
            .post(
                &format!("/v1/patients/{}/break-glass", p.id()),
                &BreakGlassRequest {
                    reason: B64.encode(sealed),
                    reason_epoch: epoch.epoch,
                },
            )
            .await
    }
}
