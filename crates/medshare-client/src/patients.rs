//! Patients: resolving an identifier to a patient record (creating it, with a new patient key,
//! when this institution sees the patient first), consent, care relationships and break-glass.

use crate::error::{ClientError, Result};
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::chain::verify_patient_chain;
use medshare_crypto::seal::{open_bytes, seal_bytes, unwrap_key, wrap_key};
use medshare_crypto::{CryptoError, EncryptionKey};
use medshare_model::api::*;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::statements::{PatientKeyEpoch, Signed};
use medshare_model::{ErrorCode, InstitutionId, PatientId, PatientRef};
use std::collections::{BTreeMap, HashMap};

/// A patient whose key chain verified (see [`verify_patient_chain`]).
pub struct Patient {
    /// What the hub says about the patient (checked against the chain).
    pub view: PatientView,
    /// Verified epoch statements, by epoch.
    pub epochs: BTreeMap<u32, PatientKeyEpoch>,
    /// The reference used to find the patient (one of the signed references).
    pub patient_ref: PatientRef,
    /// Digest of the newest epoch's statement (the next epoch names it).
    latest_digest: String,
}

impl Patient {
    /// The patient's hub id.
    pub fn id(&self) -> PatientId {
        self.view.patient_id
    }

    /// The current epoch and its recipient.
    pub fn current(&self) -> Result<(u32, &str)> {
        self.latest().map(|k| (k.epoch, k.recipient.as_str()))
    }

    /// The newest verified epoch statement.
    pub fn latest(&self) -> Result<&PatientKeyEpoch> {
        self.epochs
            .values()
            .next_back()
            .ok_or(ClientError::Trust("the patient has no key"))
    }

    /// Who holds the patient's consent, as the newest signed epoch says (never the hub's list).
    pub fn holders(&self) -> Result<&[ConsentHolder]> {
        Ok(&self.latest()?.holders)
    }

    /// Whether `r` is one of the patient's signed references.
    pub fn has_ref(&self, r: &PatientRef) -> bool {
        self.latest().is_ok_and(|k| k.refs.contains(r))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Who a consent goes to.
#[derive(Clone, Debug)]
pub enum ConsentTarget {
    /// Every member of one institution.
    Institution(InstitutionId),
    /// Every institution of the alliance.
    Alliance,
}

impl ConsentTarget {
    fn holder(&self) -> ConsentHolder {
        match self {
            Self::Institution(id) => ConsentHolder::Institution { id: *id },
            Self::Alliance => ConsentHolder::Alliance,
        }
    }
}

fn chain_error(e: CryptoError) -> ClientError {
    ClientError::Trust(match e {
        CryptoError::ChainMismatch(why) => why,
        _ => "a patient key statement does not verify",
    })
}

impl Client {
    /// Verify a patient's whole key chain (who signed each epoch, that each extends the one
    /// before, that the signer's institution held consent), that `patient_ref` is one of its
    /// signed references, and that nothing rolled back since this client last looked.
    pub(crate) async fn verify_patient(
        &self,
        view: PatientView,
        patient_ref: PatientRef,
    ) -> Result<Patient> {
        let mut signers = HashMap::new();
        for s in &view.key_epochs {
            let claimed: PatientKeyEpoch = s
                .payload_as()
                .map_err(|_| ClientError::Trust("a patient key statement is malformed"))?;
            if let std::collections::hash_map::Entry::Vacant(v) = signers.entry(claimed.signed_by) {
                v.insert(
                    self.trust
                        .fetch_practitioner(&self.hub, claimed.signed_by)
                        .await?,
                );
            }
        }
        let chain = verify_patient_chain(view.patient_id, &view.key_epochs, |id| {
            signers.get(&id).cloned()
        })
        .map_err(chain_error)?;
        // A removed practitioner's signature on anything newer than their removal is void.
        for e in &chain {
            if self
                .trust
                .revoked_at(e.signed_by)
                .is_some_and(|at| e.issued_at >= at)
            {
                return Err(ClientError::Trust(
                    "a patient key was signed by a practitioner after their removal",
                ));
            }
        }
        let latest = chain
            .last()
            .ok_or(ClientError::Trust("the patient has no key"))?;
        if !latest.refs.contains(&patient_ref) {
            return Err(ClientError::Trust(
                "the hub answered with a patient whose signed record does not carry the number asked for",
            ));
        }
        let mut statements: Vec<(u32, String)> = Vec::with_capacity(view.key_epochs.len());
        for s in &view.key_epochs {
            let e: PatientKeyEpoch = s
                .payload_as()
                .map_err(|_| ClientError::Trust("a patient key statement is malformed"))?;
            statements.push((e.epoch, s.digest()));
        }
        statements.sort();
        let digests: Vec<String> = statements.into_iter().map(|(_, d)| d).collect();
        self.trust
            .memory()
            .patient_chain(view.patient_id, &digests, Some(&patient_ref))?;
        let latest_digest = digests.last().cloned().unwrap_or_default();
        Ok(Patient {
            view,
            epochs: chain.into_iter().map(|e| (e.epoch, e)).collect(),
            patient_ref,
            latest_digest,
        })
    }

    /// Sign the next epoch of a patient's key (or the first, for `None`).
    fn sign_epoch(
        &self,
        patient_id: PatientId,
        previous: Option<&Patient>,
        recipient: String,
        refs: Vec<PatientRef>,
        mut holders: Vec<ConsentHolder>,
        institution_id: InstitutionId,
    ) -> Result<Signed> {
        holders.sort();
        holders.dedup();
        let epoch = match previous {
            Some(p) => p.current()?.0 + 1,
            None => 1,
        };
        Ok(self.keys.signing.sign_statement(&PatientKeyEpoch {
            patient_id,
            epoch,
            previous: previous.map(|p| p.latest_digest.clone()),
            recipient,
            refs,
            holders,
            signed_by: self.me,
            institution_id,
            issued_at: now(),
            service: self.service,
        }))
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
        let inst = ctx.institution.cert.institution_id;
        let key_epoch = self.sign_epoch(
            patient_id,
            None,
            key.recipient(),
            vec![r.clone()],
            vec![ConsentHolder::Institution { id: inst }],
            inst,
        )?;
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
        self.open_patient_card(p, &keys)
    }

    /// [`Client::patient_card`] with the patient's keys already unwrapped.
    pub(crate) fn open_patient_card(
        &self,
        p: &Patient,
        keys: &BTreeMap<u32, EncryptionKey>,
    ) -> Result<Option<PatientCard>> {
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

    /// Where a holder's wraps go: the institution's current (verified, never rolled back) epoch
    /// key, or the root-signed alliance key.
    async fn holder_recipient(&self, h: &ConsentHolder) -> Result<(Holder, String)> {
        match h {
            ConsentHolder::Institution { id } => {
                let (_, epoch) = self.trust.institution(&self.hub, *id).await?;
                Ok((
                    Holder::Institution {
                        id: *id,
                        epoch: epoch.epoch,
                    },
                    epoch.recipient,
                ))
            }
            ConsentHolder::Alliance => {
                let (_, key) =
                    crate::trust::alliance_root(&self.hub, Some(*self.trust.root())).await?;
                Ok((Holder::Alliance, key.recipient))
            }
        }
    }

    /// A new epoch key for `holders`, signed as the next epoch of `p`, sealed to every holder.
    async fn next_epoch(
        &self,
        p: &Patient,
        holders: Vec<ConsentHolder>,
    ) -> Result<(Signed, Vec<PatientKeyWrap>)> {
        let inst = self.context().await?.institution.cert.institution_id;
        if !p.latest()?.names_institution(inst) {
            return Err(ClientError::Invalid(
                "only clinicians of an institution holding the patient's consent may change it"
                    .into(),
            ));
        }
        if !holders
            .iter()
            .any(|h| matches!(h, ConsentHolder::Institution { .. }))
        {
            return Err(ClientError::Invalid(
                "at least one institution must keep the patient's consent".into(),
            ));
        }
        let key = EncryptionKey::generate();
        let statement = self.sign_epoch(
            p.id(),
            Some(p),
            key.recipient(),
            p.latest()?.refs.clone(),
            holders.clone(),
            inst,
        )?;
        let next = p.current()?.0 + 1;
        let mut wraps = Vec::with_capacity(holders.len());
        for h in &holders {
            let (holder, recipient) = self.holder_recipient(h).await?;
            wraps.push(PatientKeyWrap {
                patient_epoch: next,
                holder,
                wrap: wrap_key(&recipient, &key)?,
            });
        }
        Ok((statement, wraps))
    }

    /// `alliance`, or the institution whose root-signed certificate carries the code `code`:
    /// the hub's list only says where to look, so a hub cannot swap one institution for another.
    pub async fn consent_target(&self, code: &str) -> Result<ConsentTarget> {
        if code.trim().eq_ignore_ascii_case("alliance") {
            return Ok(ConsentTarget::Alliance);
        }
        let list = self.institutions().await?;
        let listed = list
            .iter()
            .find(|i| i.summary.code.eq_ignore_ascii_case(code.trim()))
            .ok_or_else(|| ClientError::Invalid("no institution with that code".into()))?;
        let (v, _) = self
            .trust()
            .institution(&self.hub, listed.summary.institution_id)
            .await?;
        if !v.cert.code.eq_ignore_ascii_case(code.trim()) {
            return Err(ClientError::Trust(
                "the hub answered with another institution than the one asked for",
            ));
        }
        Ok(ConsentTarget::Institution(v.cert.institution_id))
    }

    /// Record consent to share with an institution or the whole alliance: a new patient key
    /// epoch naming the new holder, and every earlier epoch sealed to it so it can read the past.
    pub async fn grant_consent(&self, p: &Patient, to: &ConsentTarget) -> Result<()> {
        let keys = self.patient_keys(p).await?;
        if keys.len() != p.epochs.len() {
            return Err(ClientError::Invalid(
                "you need access to every epoch of the patient key to extend consent".into(),
            ));
        }
        let to = to.holder();
        let mut holders = p.holders()?.to_vec();
        if holders.contains(&to) {
            return Err(ClientError::Invalid(
                "the patient already consents to share with them".into(),
            ));
        }
        holders.push(to.clone());
        let (new_epoch, mut wraps) = self.next_epoch(p, holders).await?;
        let (holder, recipient) = self.holder_recipient(&to).await?;
        for (e, k) in &keys {
            wraps.push(PatientKeyWrap {
                patient_epoch: *e,
                holder: holder.clone(),
                wrap: wrap_key(&recipient, k)?,
            });
        }
        self.hub
            .post_unit(
                &format!("/v1/patients/{}/consent", p.id()),
                &ConsentGrant {
                    to,
                    new_epoch,
                    wraps,
                },
            )
            .await
    }

    /// Withdraw consent: the hub deletes the holder's wraps, and a new patient key epoch sealed
    /// to the remaining holders (as the signed chain names them) protects what comes next.
    pub async fn revoke_consent(&self, p: &Patient, from: &ConsentTarget) -> Result<()> {
        let from = from.holder();
        let holders: Vec<ConsentHolder> = p
            .holders()?
            .iter()
            .filter(|h| **h != from)
            .cloned()
            .collect();
        if holders.len() == p.holders()?.len() {
            return Err(ClientError::Invalid(
                "the patient does not consent to share with them".into(),
            ));
        }
        let (new_epoch, wraps) = self.next_epoch(p, holders).await?;
        self.hub
            .post_unit(
                &format!("/v1/patients/{}/consent/revoke", p.id()),
                &ConsentRevoke {
                    from,
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
