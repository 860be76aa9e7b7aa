//! Urgent consults. The requester resolves everyone the consult may reach (a named colleague,
//! or an on-call list's members then its owner), verifies each against the alliance root,
//! seals the question (and the patient it is about, and the documents it attaches) to all of
//! them and binds it with a signed [`ConsultBinding`]; attached documents are shared with each
//! through the normal grants. A recipient opens a consult only if the binding verifies
//! against the requester's certificate and names the consult, patient and chain the hub
//! shows: a hub that swaps the patient, redirects the question or substitutes a certificate is
//! refused.
//!
//! On-call lists are signed by their institution ([`OncallListStatement`], made by an
//! administrator with the institution's key): a client uses a list only if it verifies against
//! the institution's root-certified key, names the institution and list asked for, is not
//! older than one it saw before and has not expired, and it builds the escalation chain from
//! the signed order only. The binding names that list (version, digest); the hub keeps it with
//! the consult, and every recipient checks the chain against it and the hub's history of the
//! consult against the chain.

use crate::error::{ClientError, Result};
use crate::rooms::RoomKeys;
use crate::session::Client;
use crate::{Patient, Share};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::chain::VerifiedPractitioner;
use medshare_crypto::keys::verify_statement;
use medshare_crypto::seal::{open_bytes, seal_bytes};
use medshare_model::consults::{
    ChannelCreated, ChannelKind, ChannelView, ConsultAnswer, ConsultState, ConsultStepKind,
    ConsultTo, ConsultView, NewChannel, NewConsult, OncallList, OncallListSet,
};
use medshare_model::statements::{
    ConsultBinding, ONCALL_DEFAULT_VALIDITY_SECS, ONCALL_MAX_VALIDITY_SECS, OncallListStatement,
    OncallRef, Signed,
};
use medshare_model::{
    ConsultId, DocumentId, Handle, InstitutionId, PatientId, PractitionerId, RoomId,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest question text accepted before sealing (the hub has its own limit on the sealed
/// form).
pub const MAX_QUESTION_TEXT: usize = 8 * 1024;

/// Whom to ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// A named colleague.
    Colleague(Handle),
    /// An on-call list: of the given institution (by code), or of one's own.
    Oncall {
        /// The institution's code; `None` for one's own.
        institution: Option<String>,
        /// The list's name (e.g. `cardiology`).
        name: String,
    },
}

impl std::str::FromStr for Recipient {
    type Err = ClientError;

    /// `HANDLE`, `oncall:NAME` or `oncall:CODE/NAME`.
    fn from_str(s: &str) -> Result<Self> {
        match s.strip_prefix("oncall:") {
            Some(rest) => {
                let (institution, name) = match rest.split_once('/') {
                    Some((code, name)) => (Some(code.to_string()), name),
                    None => (None, rest),
                };
                if name.is_empty() {
                    return Err(ClientError::Invalid(
                        "name the on-call list: oncall:NAME or oncall:CODE/NAME".into(),
                    ));
                }
                Ok(Self::Oncall {
                    institution,
                    name: name.to_string(),
                })
            }
            None => s
                .parse()
                .map(Self::Colleague)
                .map_err(|_| ClientError::Invalid(format!("not a handle or oncall:NAME: {s}"))),
        }
    }
}

/// A consult to ask.
#[derive(Clone, Debug)]
pub struct ConsultRequest {
    /// A colleague or an on-call list.
    pub to: Recipient,
    /// The question, sealed to everyone the consult may reach.
    pub question: String,
    /// Documents to share with everyone the consult may reach.
    pub documents: Vec<DocumentId>,
    /// Seconds each recipient has to acknowledge before it escalates.
    pub ack_within_secs: i64,
    /// Shown and notified as urgent (the only thing the hub learns about the question).
    pub urgent: bool,
}

/// What is sealed: only the chain (and the requester) can read it.
#[derive(Serialize, Deserialize)]
struct Sealed {
    consult_id: ConsultId,
    patient_id: PatientId,
    question: String,
    documents: Vec<DocumentId>,
}

/// A consult opened and checked.
#[derive(Clone, Debug)]
pub struct OpenedConsult {
    /// The hub's account of it, checked against the requester's binding.
    pub view: ConsultView,
    /// The requester, verified against the alliance root.
    pub requester: VerifiedPractitioner,
    /// The question, decrypted.
    pub question: Zeroizing<String>,
    /// The documents it attaches (shared with the chain through grants).
    pub documents: Vec<DocumentId>,
    /// For a consult to an on-call list: the list as its institution signed it, which the
    /// chain was checked against.
    pub oncall_list: Option<OncallListStatement>,
}

/// An on-call list that verified against its institution's certified key.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedOncallList {
    /// The list as the institution signed it.
    pub list: OncallListStatement,
    /// The signed statement, as the hub served it.
    pub statement: Signed,
}

/// An institution's on-call lists as a client checked them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OncallLists {
    /// Lists signed by the institution, checked.
    pub verified: Vec<VerifiedOncallList>,
    /// Names of lists set before lists were signed: unusable until an administrator sets them
    /// again.
    pub unsigned: Vec<String>,
    /// Lists signed by the institution whose validity ended: unusable until an administrator
    /// sets them again.
    #[serde(default)]
    pub expired: Vec<VerifiedOncallList>,
}

/// Why an unsigned list is refused, and what to do.
const UNSIGNED_LIST: &str = "the on-call list is not signed by its institution (it was set before lists were \
     signed): an administrator must set it again with `medshare oncall set`";

fn check_list_name(name: &str) -> Result<()> {
    if medshare_model::consults::is_list_name(name) {
        Ok(())
    } else {
        Err(ClientError::Invalid(
            medshare_model::consults::LIST_NAME_RULE.into(),
        ))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Client {
    async fn institution_by_code(&self, code: Option<&str>) -> Result<InstitutionId> {
        let Some(code) = code else {
            return Ok(self.context().await?.institution.cert.institution_id);
        };
        let found = self
            .institutions()
            .await?
            .into_iter()
            .find(|i| i.summary.code.eq_ignore_ascii_case(code))
            .ok_or_else(|| ClientError::Invalid(format!("no institution with code {code}")))?;
        // The listing is not signed: check the code against the root-signed certificate.
        let (v, _) = self
            .trust()
            .institution(self.hub(), found.summary.institution_id)
            .await?;
        if !v.cert.code.eq_ignore_ascii_case(code) {
            return Err(ClientError::Trust(
                "the hub answered with another institution than the one asked for",
            ));
        }
        Ok(found.summary.institution_id)
    }

    /// An institution's on-call lists, each checked like [`Self::oncall_list`]; lists set
    /// before lists were signed are named apart (nobody can use them until re-signed).
    pub async fn oncall_lists(&self, institution: Option<&str>) -> Result<OncallLists> {
        let id = self.institution_by_code(institution).await?;
        let lists: Vec<OncallList> = self
            .hub()
            .get(&format!("/v1/institutions/{id}/oncall"))
            .await?;
        let mut out = OncallLists::default();
        for l in &lists {
            check_list_name(&l.name)
                .map_err(|_| ClientError::Trust("the hub listed a malformed on-call list name"))?;
            if l.statement.is_none() {
                out.unsigned.push(l.name.clone());
                continue;
            }
            let v = self.verify_oncall_signed(id, &l.name, l).await?;
            if v.list.unusable_at(now()).is_some() {
                out.expired.push(v);
            } else {
                out.verified.push(v);
            }
        }
        Ok(out)
    }

    /// One on-call list, checked: signed by its institution, naming the institution and list
    /// asked for, not older than one this client saw before.
    pub async fn oncall_list(
        &self,
        institution: Option<&str>,
        name: &str,
    ) -> Result<VerifiedOncallList> {
        let id = self.institution_by_code(institution).await?;
        self.oncall_list_of(id, name).await
    }

    async fn oncall_list_of(&self, id: InstitutionId, name: &str) -> Result<VerifiedOncallList> {
        check_list_name(name)?;
        let l: OncallList = self
            .hub()
            .get(&format!("/v1/institutions/{id}/oncall/{name}"))
            .await?;
        self.verify_oncall(id, name, &l).await
    }

    /// Check a list the hub served as institution `id`'s list `name`, and that it is valid now.
    async fn verify_oncall(
        &self,
        id: InstitutionId,
        name: &str,
        l: &OncallList,
    ) -> Result<VerifiedOncallList> {
        let v = self.verify_oncall_signed(id, name, l).await?;
        // Expired (or valid for longer than allowed): a hub may be hiding a newer list.
        if let Some(why) = v.list.unusable_at(now()) {
            return Err(ClientError::Trust(why));
        }
        Ok(v)
    }

    /// Check a list the hub served as institution `id`'s list `name`: signed by the
    /// institution, naming it and the list, not older than one seen before (valid or not).
    async fn verify_oncall_signed(
        &self,
        id: InstitutionId,
        name: &str,
        l: &OncallList,
    ) -> Result<VerifiedOncallList> {
        let signed = l
            .statement
            .as_ref()
            .ok_or(ClientError::Trust(UNSIGNED_LIST))?;
        let (inst, _) = self.trust().institution(self.hub(), id).await?;
        let list: OncallListStatement = verify_statement(signed, &inst.sign_public)
            .map_err(|_| ClientError::Trust("an on-call list is not signed by its institution"))?;
        if list.institution_id != id || list.name != name {
            return Err(ClientError::Trust(
                "the hub answered with another on-call list than the one asked for",
            ));
        }
        if list.members.is_empty() {
            return Err(ClientError::Trust("a signed on-call list has no members"));
        }
        self.trust()
            .memory()
            .oncall_list(id, name, list.version, &signed.digest())?;
        Ok(VerifiedOncallList {
            list,
            statement: signed.clone(),
        })
    }

    /// Set (or replace) an on-call list of the caller's institution, valid for the default 14
    /// days (see [`Self::set_oncall_list_valid_for`]).
    pub async fn set_oncall_list(
        &self,
        name: &str,
        owner: &Handle,
        members: &[Handle],
    ) -> Result<VerifiedOncallList> {
        self.set_oncall_list_valid_for(name, owner, members, ONCALL_DEFAULT_VALIDITY_SECS)
            .await
    }

    /// Set (or replace) an on-call list of the caller's institution (administrators: it is
    /// signed with the institution's key, at a version above the stored list's and above any
    /// this client saw), valid for `valid_secs` (at most 90 days): clients refuse it after
    /// that, so it must be set again before then.
    pub async fn set_oncall_list_valid_for(
        &self,
        name: &str,
        owner: &Handle,
        members: &[Handle],
        valid_secs: i64,
    ) -> Result<VerifiedOncallList> {
        check_list_name(name)?;
        if !(1..=ONCALL_MAX_VALIDITY_SECS).contains(&valid_secs) {
            return Err(ClientError::Invalid(
                "an on-call list is valid for between 1 second and 90 days".into(),
            ));
        }
        let ctx = self.context().await?;
        let signing = ctx
            .institution_signing
            .as_ref()
            .ok_or(ClientError::Invalid(
                "only an institution administrator can set on-call lists".into(),
            ))?;
        let inst = ctx.institution.cert.institution_id;
        let me = ctx.me.cert.practitioner_id;
        let ours = |v: &VerifiedPractitioner| -> Result<PractitionerId> {
            if v.cert.institution_id != inst {
                return Err(ClientError::Invalid(format!(
                    "{} is not a practitioner of your institution",
                    v.cert.handle
                )));
            }
            Ok(v.cert.practitioner_id)
        };
        let owner = ours(&self.practitioner_by_handle(owner).await?)?;
        let mut ids = Vec::with_capacity(members.len());
        for h in members {
            ids.push(ours(&self.practitioner_by_handle(h).await?)?);
        }
        let path = format!("/v1/institutions/{inst}/oncall/{name}");
        let stored = match self.hub().get::<OncallList>(&path).await {
            Ok(l) => l.version,
            Err(e) if e.code() == Some(medshare_model::ErrorCode::NotFound) => 0,
            Err(e) => return Err(e),
        };
        let seen = self
            .trust()
            .memory()
            .oncall_version(inst, name)
            .unwrap_or(0);
        let statement = signing.sign_statement(&OncallListStatement {
            institution_id: inst,
            name: name.to_string(),
            owner,
            members: ids,
            version: stored.max(seen) + 1,
            signed_by: me,
            issued_at: now(),
            valid_until: Some(now() + valid_secs),
        });
        let l: OncallList = self.hub().put(&path, &OncallListSet { statement }).await?;
        self.verify_oncall(inst, name, &l).await
    }

    /// Ask a consult about `patient`: resolve and verify everyone it may reach, share the
    /// attached documents with them, seal and bind the question, and file it.
    pub async fn request_consult(
        &self,
        patient: &Patient,
        req: &ConsultRequest,
    ) -> Result<ConsultView> {
        if req.question.trim().is_empty() || req.question.len() > MAX_QUESTION_TEXT {
            return Err(ClientError::Invalid(
                "a consult question is between 1 and 8192 bytes".into(),
            ));
        }
        let (to, chain_ids, oncall) = match &req.to {
            Recipient::Colleague(h) => {
                let p = self.practitioner_by_handle(h).await?;
                (
                    ConsultTo::Practitioner {
                        practitioner_id: p.cert.practitioner_id,
                    },
                    vec![p.cert.practitioner_id],
                    None,
                )
            }
            Recipient::Oncall { institution, name } => {
                let id = self.institution_by_code(institution.as_deref()).await?;
                // The chain is the signed list's order, never the hub's account of it, and the
                // binding names that list so recipients can check the chain against it.
                let l = self.oncall_list_of(id, name).await?;
                (
                    ConsultTo::Oncall {
                        institution_id: id,
                        name: name.clone(),
                    },
                    l.list.chain(),
                    Some(OncallRef {
                        institution_id: id,
                        name: name.clone(),
                        version: l.list.version,
                        sha256: l.statement.digest(),
                    }),
                )
            }
        };
        // Everyone on the chain, verified against the alliance root and not revoked.
        let mut chain = Vec::with_capacity(chain_ids.len());
        for id in &chain_ids {
            let v = self.trust().fetch_practitioner(self.hub(), *id).await?;
            self.trust().require_current(&v)?;
            chain.push(v);
        }
        let consult_id = ConsultId::new();
        let mut recipients: Vec<String> = chain.iter().map(|v| v.cert.recipient.clone()).collect();
        recipients.push(self.recipient());
        let plain = Zeroizing::new(
            serde_json::to_vec(&Sealed {
                consult_id,
                patient_id: patient.id(),
                question: req.question.clone(),
                documents: req.documents.clone(),
            })
            .map_err(|_| ClientError::Invalid("the question does not serialise".into()))?,
        );
        let sealed = seal_bytes(&recipients, &plain)?;
        for d in &req.documents {
            for v in &chain {
                self.share(
                    *d,
                    &Share {
                        with: v.cert.handle.clone(),
                        institution: None,
                        expires_at: None,
                    },
                )
                .await?;
            }
        }
        let binding = self.keys.signing.sign_statement(&ConsultBinding {
            consult_id,
            patient_id: patient.id(),
            requester: self.id(),
            chain: chain_ids.clone(),
            question_sha256: hex::encode(Sha256::digest(&sealed)),
            ack_within_secs: req.ack_within_secs,
            signed_at: now(),
            oncall,
        });
        let view: ConsultView = self
            .hub()
            .post(
                "/v1/consults",
                &NewConsult {
                    consult_id,
                    to,
                    binding,
                    question: B64.encode(&sealed),
                    urgent: req.urgent,
                },
            )
            .await?;
        if view.consult_id != consult_id
            || view.patient_id != patient.id()
            || view.chain != chain_ids
        {
            return Err(ClientError::Trust(
                "the hub filed the consult differently from how it was asked",
            ));
        }
        Ok(view)
    }

    /// Consults the caller asked or was reached by, newest first.
    pub async fn consults(&self) -> Result<Vec<ConsultView>> {
        self.hub().get("/v1/consults").await
    }

    /// One consult as the hub shows it (unchecked; see [`Client::open_consult`]).
    pub async fn consult(&self, id: ConsultId) -> Result<ConsultView> {
        let v: ConsultView = self.hub().get(&format!("/v1/consults/{id}")).await?;
        if v.consult_id != id {
            return Err(ClientError::Trust(
                "the hub answered with another consult than the one asked for",
            ));
        }
        Ok(v)
    }

    /// Open a consult: check the requester's binding against their certificate and the hub's
    /// account of it (consult, patient, chain, question), then decrypt the question.
    pub async fn open_consult(&self, id: ConsultId) -> Result<OpenedConsult> {
        let view = self.consult(id).await?;
        check_view(self, view).await
    }

    /// Acknowledge a consult that reached the caller (checked first: one cannot acknowledge
    /// what one cannot verify).
    pub async fn ack_consult(&self, id: ConsultId) -> Result<OpenedConsult> {
        self.open_consult(id).await?;
        let view: ConsultView = self
            .hub()
            .post(&format!("/v1/consults/{id}/ack"), &serde_json::json!({}))
            .await?;
        check_view(self, view).await
    }

    /// Answer a consult the caller acknowledged, in a new room with the requester: the answer
    /// is an end-to-end encrypted room message; the hub records only which room.
    pub async fn answer_consult(
        &self,
        keys: &mut RoomKeys,
        id: ConsultId,
        text: &str,
    ) -> Result<RoomId> {
        let opened = self.open_consult(id).await?;
        let room = self
            .create_room(keys, "Urgent consult", Some(opened.view.patient_id))
            .await?;
        self.invite_to_room(keys, room, &[opened.view.requester])
            .await?;
        self.send_text(keys, room, text, None).await?;
        let view: ConsultView = self
            .hub()
            .post(
                &format!("/v1/consults/{id}/answer"),
                &ConsultAnswer { room_id: room },
            )
            .await?;
        if view.room_id != Some(room) {
            return Err(ClientError::Trust(
                "the hub recorded another room than the one answered in",
            ));
        }
        Ok(room)
    }
}

impl Client {
    /// The caller's notification channels, with their delivery record.
    pub async fn notify_channels(&self) -> Result<Vec<ChannelView>> {
        self.hub().get("/v1/notify/channels").await
    }

    /// Add a notification channel. For a webhook without `secret` the hub makes one and
    /// returns it once (the receiver checks signatures with it).
    pub async fn add_notify_channel(
        &self,
        kind: ChannelKind,
        address: &str,
        secret: Option<String>,
    ) -> Result<ChannelCreated> {
        self.hub()
            .post(
                "/v1/notify/channels",
                &NewChannel {
                    kind,
                    address: address.to_string(),
                    secret,
                    keys: None,
                },
            )
            .await
    }

    /// The hub's VAPID public key (base64url), the `applicationServerKey` a browser subscribes
    /// with before [`Self::add_push_channel`].
    pub async fn vapid_key(&self) -> Result<String> {
        let k: medshare_model::consults::VapidKey = self.hub().get("/v1/notify/vapid").await?;
        Ok(k.public_key)
    }

    /// Add a Web Push channel: a browser subscription's endpoint and keys.
    pub async fn add_push_channel(
        &self,
        endpoint: &str,
        keys: medshare_model::consults::PushKeys,
    ) -> Result<ChannelCreated> {
        self.hub()
            .post(
                "/v1/notify/channels",
                &NewChannel {
                    kind: ChannelKind::WebPush,
                    address: endpoint.to_string(),
                    secret: None,
                    keys: Some(keys),
                },
            )
            .await
    }

    /// Remove one of the caller's channels.
    pub async fn remove_notify_channel(
        &self,
        id: medshare_model::consults::ChannelId,
    ) -> Result<()> {
        self.hub()
            .delete(&format!("/v1/notify/channels/{id}"))
            .await
    }

    /// Queue a test notification on one of the caller's channels.
    pub async fn test_notify_channel(&self, id: medshare_model::consults::ChannelId) -> Result<()> {
        self.hub()
            .post_unit(
                &format!("/v1/notify/channels/{id}/test"),
                &serde_json::json!({}),
            )
            .await
    }
}

async fn check_view(c: &Client, view: ConsultView) -> Result<OpenedConsult> {
    let bad = |why: &'static str| Err(ClientError::Trust(why));
    let requester = c
        .trust()
        .fetch_practitioner(c.hub(), view.requester)
        .await?;
    let b: ConsultBinding = verify_statement(&view.binding, &requester.sign_public)
        .map_err(|_| ClientError::Trust("a consult's binding does not verify"))?;
    let sealed = B64
        .decode(&view.question)
        .map_err(|_| ClientError::Trust("a consult's question is not base64"))?;
    if b.consult_id != view.consult_id
        || b.requester != view.requester
        || b.patient_id != view.patient_id
        || b.chain != view.chain
        || b.ack_within_secs != view.ack_within_secs
        || b.question_sha256 != hex::encode(Sha256::digest(&sealed))
    {
        return bad("the hub shows a consult other than the one its requester signed");
    }
    let oncall_list = check_addressed(c, &view, &b).await?;
    check_progress(&view)?;
    let me: PractitionerId = c.id();
    let reached = view
        .chain
        .iter()
        .position(|p| *p == me)
        .is_some_and(|i| i64::try_from(i).is_ok_and(|i| i <= view.step));
    if me != view.requester && !reached {
        return bad("the hub shows a consult that has not reached this practitioner");
    }
    let plain = open_bytes(&c.keys.encryption, &sealed)?;
    let s: Sealed = serde_json::from_slice(&plain)
        .map_err(|_| ClientError::Trust("a consult's sealed question is malformed"))?;
    if s.consult_id != view.consult_id || s.patient_id != view.patient_id {
        return bad("a consult's sealed question names another consult or patient");
    }
    Ok(OpenedConsult {
        view,
        requester,
        question: Zeroizing::new(s.question),
        documents: s.documents,
        oncall_list,
    })
}

/// Check whom the signed binding says the consult is to against the hub's account: a named
/// colleague is the whole chain; an on-call list is the list the binding names (verified
/// against its institution's certified key, the very statement by digest), its chain is the
/// signed list's order, and the list was valid when the consult was asked.
async fn check_addressed(
    c: &Client,
    view: &ConsultView,
    b: &ConsultBinding,
) -> Result<Option<OncallListStatement>> {
    let bad = |why: &'static str| Err(ClientError::Trust(why));
    match (&view.to, &b.oncall) {
        (ConsultTo::Practitioner { practitioner_id }, None) => {
            if b.chain != [*practitioner_id] {
                return bad(
                    "the hub shows a consult to another colleague than its requester asked",
                );
            }
            Ok(None)
        }
        (
            ConsultTo::Oncall {
                institution_id,
                name,
            },
            Some(named),
        ) => {
            if named.institution_id != *institution_id || named.name != *name {
                return bad(
                    "the hub shows a consult to another on-call list than its requester asked",
                );
            }
            let signed = match &view.oncall_list {
                Some(s) if s.digest() == named.sha256 => s,
                Some(_) => {
                    return bad(
                        "the hub shows another on-call list than the consult's requester used",
                    );
                }
                None => return bad("the hub withholds the on-call list a consult was asked of"),
            };
            let (inst, _) = c.trust().institution(c.hub(), *institution_id).await?;
            let list: OncallListStatement =
                verify_statement(signed, &inst.sign_public).map_err(|_| {
                    ClientError::Trust("an on-call list is not signed by its institution")
                })?;
            if list.institution_id != *institution_id
                || list.name != *name
                || list.version != named.version
            {
                return bad("the hub shows another on-call list than the consult's requester used");
            }
            if list.chain() != b.chain {
                return bad(
                    "a consult's chain is not the order of the on-call list it was asked of",
                );
            }
            if b.signed_at < list.issued_at || b.signed_at >= list.expires_at() {
                return bad(
                    "a consult was asked of an on-call list that was not valid at the time",
                );
            }
            if list.unusable_at(list.issued_at).is_some() {
                return bad("an on-call list is valid for longer than allowed");
            }
            Ok(Some(list))
        }
        (ConsultTo::Oncall { .. }, None) => {
            bad("a consult to an on-call list whose requester's binding names no signed list")
        }
        (ConsultTo::Practitioner { .. }, Some(_)) => {
            bad("the hub shows an on-call consult as one to a named colleague")
        }
    }
}

/// Check the hub's account of a consult's progress against its chain: it reached the chain's
/// members in order, one escalation per step, without skipping or repeating anyone; an
/// acknowledgement is by someone it had reached; "unanswered" only after the last.
fn check_progress(view: &ConsultView) -> Result<()> {
    let bad = |why: &'static str| Err(ClientError::Trust(why));
    let step = match usize::try_from(view.step) {
        Ok(s) if s < view.chain.len() => s,
        _ => return bad("the hub shows a consult at a step beyond its chain"),
    };
    let mut reached = 0usize;
    let mut acked = None;
    let mut unanswered = false;
    for (i, h) in view.history.iter().enumerate() {
        match h.kind {
            ConsultStepKind::Requested | ConsultStepKind::Escalated => {
                let first = h.kind == ConsultStepKind::Requested;
                if first != (i == 0)
                    || acked.is_some()
                    || unanswered
                    || view.chain.get(reached) != Some(&h.practitioner_id)
                {
                    return bad("the hub shows a consult escalated out of the chain's order");
                }
                reached += 1;
            }
            ConsultStepKind::Acknowledged => {
                if acked.is_some()
                    || unanswered
                    || !view.chain[..reached].contains(&h.practitioner_id)
                {
                    return bad(
                        "the hub shows a consult acknowledged by someone it had not reached",
                    );
                }
                acked = Some(h.practitioner_id);
            }
            ConsultStepKind::Unanswered => {
                if acked.is_some()
                    || unanswered
                    || reached != view.chain.len()
                    || view.chain.last() != Some(&h.practitioner_id)
                {
                    return bad("the hub shows a consult unanswered before its chain ran out");
                }
                unanswered = true;
            }
            ConsultStepKind::Answered => {
                if acked != Some(h.practitioner_id) {
                    return bad(
                        "the hub shows a consult answered by someone who did not acknowledge it",
                    );
                }
            }
        }
    }
    if reached != step + 1 {
        return bad("the hub shows a consult at another step than its history");
    }
    let consistent = match view.state {
        ConsultState::Open => acked.is_none() && !unanswered && view.acked_by.is_none(),
        ConsultState::Acknowledged => acked.is_some() && view.acked_by == acked,
        ConsultState::Unanswered => unanswered && acked.is_none() && view.acked_by.is_none(),
    };
    if !consistent {
        return bad("the hub shows a consult whose state contradicts its history");
    }
    Ok(())
}
