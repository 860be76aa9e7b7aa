//! Urgent consults and on-call lists. A practitioner asks a named colleague or an
//! institution's on-call list; the question is sealed by the client to everyone on the chain
//! and bound by the requester's signed [`ConsultBinding`], so the hub learns only who asks
//! whom, about which pseudonymous patient, that it is urgent and the acknowledgement window.
//! Without an acknowledgement in time the consult escalates along the chain (the list's
//! members, then its owner): [`escalate_due`] runs on every replica, claims due consults in the
//! database and escalates each once. Every step is audited and told to the people concerned
//! as an event without health information.

use super::{allow, decode_b64, verify};
use crate::audit::{self, Action, Entry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Who};
use crate::state::{AppState, at};
use medshare_model::api::EventKind;
use medshare_model::consults::{
    ConsultAnswer, ConsultState, ConsultStep, ConsultStepKind, ConsultTo, ConsultView, NewConsult,
    OncallList, OncallListSet,
};
use medshare_model::statements::{ConsultBinding, OncallListStatement};
use medshare_model::{ConsultId, ErrorCode, InstitutionId, PractitionerId};
use medshare_store::{ConsultRow, Escalated, OncallRow, PractitionerRow};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Largest sealed question (bytes after base64 decoding).
pub const MAX_QUESTION: usize = 16 * 1024;
/// Members one on-call list holds.
pub const MAX_ONCALL_MEMBERS: usize = 20;
/// Shortest and longest acknowledgement window.
pub const MIN_ACK_SECS: i64 = 60;
pub const MAX_ACK_SECS: i64 = 7 * 24 * 3600;
/// Most consults one listing returns.
pub const MAX_LISTED: i64 = 200;
/// Consults one replica claims per poll.
const CLAIM_BATCH: i64 = 50;

fn view(c: &ConsultRow) -> ConsultView {
    ConsultView {
        consult_id: c.id,
        requester: c.requester,
        patient_id: c.patient_id,
        to: c.target.clone(),
        chain: c.chain.clone(),
        step: c.step,
        state: c.state,
        urgent: c.urgent,
        ack_within_secs: c.ack_within,
        due_at: c.due_at.map(at),
        created_at: at(c.created_at),
        acked_by: c.acked_by,
        room_id: c.room_id,
        history: c
            .steps
            .iter()
            .map(|s| ConsultStep {
                at: at(s.at),
                kind: s.kind,
                practitioner_id: s.practitioner_id,
            })
            .collect(),
        binding: c.binding.clone(),
        question: c.question.clone(),
        oncall_list: c.oncall_list.clone(),
    }
}

fn oncall_view(l: &OncallRow) -> OncallList {
    OncallList {
        institution_id: l.institution_id,
        name: l.name.clone(),
        owner: l.owner,
        members: l.members.clone(),
        version: u64::try_from(l.version).unwrap_or(0),
        updated_at: at(l.updated_at),
        statement: l.statement.clone(),
    }
}

fn detail(id: ConsultId) -> String {
    format!("consult:{id}")
}

/// Tell `to` of a step: a live event (ids only) and their notification channels (fixed text).
async fn tell(
    state: &AppState,
    to: PractitionerId,
    consult_id: ConsultId,
    step: ConsultStepKind,
    by: PractitionerId,
) {
    state
        .notifier
        .publish(
            &state.store,
            to,
            EventKind::Consult {
                consult_id,
                step,
                by,
            },
        )
        .await;
    super::channels::notify(
        state,
        to,
        &format!("consult:{consult_id}:{}:{to}", step.as_str()),
    )
    .await;
}

/// Record a refusal and turn it into the API's error.
async fn refuse(
    state: &AppState,
    caller: &Caller,
    id: ConsultId,
    why: policy::Refusal,
) -> ApiError {
    if let Err(e) = audit::record(
        state,
        Entry::new(Action::ConsultRefused, false, why)
            .by(&caller.practitioner)
            .detail(detail(id)),
    )
    .await
    {
        return e;
    }
    super::refused(why)
}

async fn consult(state: &AppState, id: ConsultId) -> ApiResult<ConsultRow> {
    state
        .store
        .consult(id)
        .await?
        .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such consult"))
}

async fn practitioner(state: &AppState, id: PractitionerId) -> ApiResult<PractitionerRow> {
    state
        .store
        .practitioner(id)
        .await?
        .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such practitioner"))
}

fn check_list_name(name: &str) -> ApiResult<()> {
    if medshare_model::consults::is_list_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            medshare_model::consults::LIST_NAME_RULE,
        ))
    }
}

/// Set or replace one of the caller's institution's on-call lists: a statement signed with the
/// institution's key, naming this institution and list, newer than the stored one. The hub
/// checks it (so a typo does not break every client) and stores it as given.
pub async fn set_oncall(
    state: &AppState,
    caller: &Caller,
    institution: InstitutionId,
    name: &str,
    req: OncallListSet,
) -> ApiResult<OncallList> {
    allow(policy::oncall_admin(&Who::from(caller), institution))?;
    check_list_name(name)?;
    let inst = state
        .store
        .institution(institution)
        .await?
        .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such institution"))?;
    let sign_public = inst.sign_public.as_deref().ok_or_else(|| {
        ApiError::with(ErrorCode::Conflict, "the institution is not certified yet")
    })?;
    let l: OncallListStatement = verify(&req.statement, sign_public)?;
    if l.institution_id != institution || l.name != name || l.signed_by != caller.practitioner.id {
        return Err(ApiError::with(
            ErrorCode::BadSignature,
            "the signed on-call list names another institution, list or signer",
        ));
    }
    // New lists say how long they are valid (clients refuse them after that), within bounds.
    if l.valid_until.is_none() {
        return Err(ApiError::bad_request(
            "a signed on-call list says until when it is valid (valid_until)",
        ));
    }
    if let Some(why) = l.unusable_at(state.now()) {
        return Err(ApiError::bad_request(why));
    }
    if l.members.is_empty() || l.members.len() > MAX_ONCALL_MEMBERS {
        return Err(ApiError::bad_request(
            "an on-call list has between 1 and 20 members",
        ));
    }
    let version = i64::try_from(l.version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::bad_request("an on-call list's version is 1 or more"))?;
    let mut seen = HashSet::new();
    if !l.members.iter().all(|p| seen.insert(*p)) {
        return Err(ApiError::bad_request("a member is named twice"));
    }
    for p in l.members.iter().chain(std::iter::once(&l.owner)) {
        let row = practitioner(state, *p).await?;
        if row.institution_id != institution
            || policy::consult_participant(&Who::from(&row)).is_err()
        {
            return Err(ApiError::bad_request(
                "on-call members and the owner are certified clinicians of the institution",
            ));
        }
    }
    let row = OncallRow {
        institution_id: institution,
        name: name.to_string(),
        owner: l.owner,
        members: l.members,
        updated_at: state.now(),
        version,
        statement: Some(req.statement),
    };
    if !state.store.set_oncall(&row).await? {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the stored on-call list is as new or newer: sign a higher version",
        ));
    }
    audit::record(
        state,
        Entry::new(Action::OncallSet, true, "administrator")
            .by(&caller.practitioner)
            .detail(format!("oncall:{name}:v{version}")),
    )
    .await?;
    Ok(oncall_view(&row))
}

/// One on-call list (any certified practitioner: a requester seals the question to it).
pub async fn oncall(
    state: &AppState,
    caller: &Caller,
    institution: InstitutionId,
    name: &str,
) -> ApiResult<OncallList> {
    allow(policy::consult_read(&Who::from(caller), true, false))?;
    check_list_name(name)?;
    let l = state
        .store
        .oncall(institution, name)
        .await?
        .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such on-call list"))?;
    Ok(oncall_view(&l))
}

/// An institution's on-call lists.
pub async fn oncalls(
    state: &AppState,
    caller: &Caller,
    institution: InstitutionId,
) -> ApiResult<Vec<OncallList>> {
    allow(policy::consult_read(&Who::from(caller), true, false))?;
    Ok(state
        .store
        .oncalls_of(institution)
        .await?
        .iter()
        .map(oncall_view)
        .collect())
}

/// Everyone a consult to `to` may reach, in escalation order, and for an on-call list the
/// signed list (which the consult keeps, for its recipients to check).
async fn chain_of(
    state: &AppState,
    to: &ConsultTo,
) -> ApiResult<(Vec<PractitionerId>, Option<OncallRow>)> {
    match to {
        ConsultTo::Practitioner { practitioner_id } => {
            let p = practitioner(state, *practitioner_id).await?;
            if policy::consult_participant(&Who::from(&p)).is_err() {
                return Err(ApiError::bad_request("consults go to certified clinicians"));
            }
            Ok((vec![p.id], None))
        }
        ConsultTo::Oncall {
            institution_id,
            name,
        } => {
            check_list_name(name)?;
            let l = state
                .store
                .oncall(*institution_id, name)
                .await?
                .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such on-call list"))?;
            Ok((l.chain(), Some(l)))
        }
    }
}

/// A consult to an on-call list names, in its binding, the signed list its chain was taken
/// from: it must be the stored list (a replaced one is refused, so the requester asks again
/// with the current list) and not expired. Returns the statement the consult keeps.
fn check_list_named(
    state: &AppState,
    b: &ConsultBinding,
    list: Option<&OncallRow>,
) -> ApiResult<Option<medshare_model::statements::Signed>> {
    let Some(list) = list else {
        return match b.oncall {
            None => Ok(None),
            Some(_) => Err(ApiError::bad_request(
                "the consult binding names an on-call list but the consult is to a colleague",
            )),
        };
    };
    let Some(signed) = list.statement.as_ref() else {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the on-call list is not signed by its institution: an administrator must set it again",
        ));
    };
    let Some(named) = b.oncall.as_ref() else {
        return Err(ApiError::bad_request(
            "the consult binding does not name the signed on-call list its chain was taken from",
        ));
    };
    if named.institution_id != list.institution_id || named.name != list.name {
        return Err(ApiError::bad_request(
            "the consult binding names another on-call list than the one asked",
        ));
    }
    if u64::try_from(list.version).ok() != Some(named.version) || named.sha256 != signed.digest() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the on-call list changed since the question was sealed: ask again",
        ));
    }
    let l: OncallListStatement = signed.payload_as().map_err(|_| ApiError::internal())?;
    if let Some(why) = l.unusable_at(state.now()) {
        return Err(ApiError::with(ErrorCode::Conflict, why));
    }
    Ok(Some(signed.clone()))
}

/// Ask a consult: checked, stored with its first recipient's window running, audited, told.
pub async fn request(state: &AppState, caller: &Caller, req: NewConsult) -> ApiResult<ConsultView> {
    allow(policy::consult_participant(&Who::from(caller)))?;
    if req.question.len() > MAX_QUESTION.div_ceil(3) * 4 + 4 {
        return Err(ApiError::with(
            ErrorCode::PayloadTooLarge,
            "a consult's sealed question holds at most 16 KiB",
        ));
    }
    let question = decode_b64(&req.question, MAX_QUESTION, "the question is not base64")?;
    let me = &caller.practitioner;
    let sign_public = me.sign_public.as_deref().ok_or_else(ApiError::internal)?;
    let b: ConsultBinding = verify(&req.binding, sign_public)?;
    if b.consult_id != req.consult_id
        || b.requester != me.id
        || b.question_sha256 != hex::encode(Sha256::digest(&question))
    {
        return Err(ApiError::with(
            ErrorCode::BadSignature,
            "the consult binding does not name this consult, its requester and question",
        ));
    }
    if !(MIN_ACK_SECS..=MAX_ACK_SECS).contains(&b.ack_within_secs) {
        return Err(ApiError::bad_request(
            "the acknowledgement window is between 1 minute and 7 days",
        ));
    }
    if state.store.patient(b.patient_id).await?.is_none() {
        return Err(ApiError::with(ErrorCode::NotFound, "no such patient"));
    }
    // The same rule as reading the patient's records: no consult about a patient the
    // requester has no care relationship (or break-glass window) and consent for.
    let who = Who::from(caller);
    let facts = policy::patient_facts(state, &who, b.patient_id).await?;
    if let Err(why) = policy::consult_request(&who, &facts) {
        return Err(refuse(state, caller, req.consult_id, why).await);
    }
    let (chain, list) = chain_of(state, &req.to).await?;
    let oncall_list = check_list_named(state, &b, list.as_ref())?;
    if chain.contains(&me.id) {
        return Err(ApiError::bad_request("a consult is asked of someone else"));
    }
    if chain != b.chain {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the on-call list changed since the question was sealed: ask again",
        ));
    }
    let now = state.now();
    let row = ConsultRow {
        id: req.consult_id,
        requester: me.id,
        patient_id: b.patient_id,
        target: req.to,
        chain,
        step: 0,
        state: ConsultState::Open,
        urgent: req.urgent,
        ack_within: b.ack_within_secs,
        due_at: Some(now + b.ack_within_secs),
        created_at: now,
        acked_by: None,
        room_id: None,
        binding: req.binding,
        question: req.question,
        oncall_list,
        steps: Vec::new(),
    };
    state
        .store
        .create_consult(&row)
        .await
        .map_err(|e| match e {
            medshare_store::StoreError::Conflict => {
                ApiError::with(ErrorCode::Conflict, "that consult id is taken")
            }
            e => e.into(),
        })?;
    audit::record(
        state,
        Entry::new(Action::ConsultRequest, true, "requester")
            .by(me)
            .patient(row.patient_id)
            .detail(detail(row.id)),
    )
    .await?;
    tell(
        state,
        row.chain[0],
        row.id,
        ConsultStepKind::Requested,
        me.id,
    )
    .await;
    Ok(view(&consult(state, row.id).await?))
}

/// The consults the caller asked or has been reached by, newest first.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<ConsultView>> {
    Ok(state
        .store
        .consults_of(caller.id(), MAX_LISTED)
        .await?
        .iter()
        .map(view)
        .collect())
}

/// One consult, for its requester and the recipients it reached.
pub async fn get(state: &AppState, caller: &Caller, id: ConsultId) -> ApiResult<ConsultView> {
    let c = consult(state, id).await?;
    let me = caller.id();
    if let Err(why) = policy::consult_read(&Who::from(caller), c.requester == me, c.reached(me)) {
        return Err(refuse(state, caller, id, why).await);
    }
    Ok(view(&c))
}

/// Acknowledge a consult that reached the caller: it stops escalating.
pub async fn ack(state: &AppState, caller: &Caller, id: ConsultId) -> ApiResult<ConsultView> {
    let c = consult(state, id).await?;
    let me = caller.id();
    if let Err(why) = policy::consult_ack(&Who::from(caller), c.reached(me)) {
        return Err(refuse(state, caller, id, why).await);
    }
    let position = c.position(me).ok_or_else(ApiError::internal)?;
    if !state
        .store
        .ack_consult(id, me, position, state.now())
        .await?
    {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the consult is no longer open (acknowledged already, or unanswered)",
        ));
    }
    audit::record(
        state,
        Entry::new(Action::ConsultAck, true, "recipient")
            .by(&caller.practitioner)
            .patient(c.patient_id)
            .detail(detail(id)),
    )
    .await?;
    tell(state, c.requester, id, ConsultStepKind::Acknowledged, me).await;
    Ok(view(&consult(state, id).await?))
}

/// Record the room the caller (who acknowledged) answered in: one they own, with the requester
/// a current member.
pub async fn answer(
    state: &AppState,
    caller: &Caller,
    id: ConsultId,
    req: ConsultAnswer,
) -> ApiResult<ConsultView> {
    let c = consult(state, id).await?;
    let me = caller.id();
    if let Err(why) = policy::consult_ack(&Who::from(caller), c.reached(me)) {
        return Err(refuse(state, caller, id, why).await);
    }
    if c.acked_by != Some(me) {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "only the practitioner who acknowledged the consult answers it",
        ));
    }
    let room = state
        .store
        .room(req.room_id)
        .await?
        .ok_or_else(|| ApiError::with(ErrorCode::NotFound, "no such room"))?;
    if room.owner != me || !room.is_current_member(c.requester) {
        return Err(ApiError::bad_request(
            "answer in a room you own with the requester as a member",
        ));
    }
    if !state
        .store
        .answer_consult(id, me, req.room_id, state.now())
        .await?
    {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the consult is answered already",
        ));
    }
    audit::record(
        state,
        Entry::new(Action::ConsultAnswer, true, "recipient")
            .by(&caller.practitioner)
            .patient(c.patient_id)
            .detail(format!("consult:{id};room:{}", req.room_id)),
    )
    .await?;
    tell(state, c.requester, id, ConsultStepKind::Answered, me).await;
    Ok(view(&consult(state, id).await?))
}

/// Escalate every consult whose window has passed, as `replica`: each is claimed in the
/// database first, so replicas polling together escalate it once. Returns how many moved.
pub async fn escalate_due(state: &AppState, replica: &str) -> ApiResult<usize> {
    let now = state.now();
    let stale_before = now - state.config.consults.claim_ttl_secs;
    let due = state
        .store
        .claim_due_consults(replica, now, stale_before, CLAIM_BATCH)
        .await?;
    let mut moved = 0;
    let mut due = due.into_iter();
    while let Some(c) = due.next() {
        let outcome = match state
            .store
            .escalate_consult(c.id, c.step, replica, state.now())
            .await
        {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(e) => {
                // Not this one nor the rest of the batch: released for the next poll rather
                // than held until the claim goes stale (`claim_ttl_secs`).
                release(
                    state,
                    replica,
                    std::iter::once(c.id).chain(due.map(|c| c.id)),
                )
                .await;
                return Err(e.into());
            }
        };
        moved += 1;
        crate::metrics::consult_escalated(match outcome {
            Escalated::To(_) => "escalated",
            Escalated::Unanswered => "unanswered",
        });
        let (action, basis, told, step) = match outcome {
            Escalated::To(next) => (
                Action::ConsultEscalate,
                "ack-window-passed",
                vec![(next, c.requester), (c.requester, next)],
                ConsultStepKind::Escalated,
            ),
            Escalated::Unanswered => (
                Action::ConsultUnanswered,
                "chain-exhausted",
                vec![(c.requester, c.current().unwrap_or(c.requester))],
                ConsultStepKind::Unanswered,
            ),
        };
        let recorded = audit::record(
            state,
            Entry::new(action, true, basis)
                .patient(c.patient_id)
                .detail(detail(c.id)),
        )
        .await;
        if let Err(e) = recorded {
            release(state, replica, due.map(|c| c.id)).await;
            return Err(e);
        }
        for (to, by) in told {
            tell(state, to, c.id, step, by).await;
        }
    }
    Ok(moved)
}

/// Release this replica's claims on consults it will not escalate in this poll.
async fn release(state: &AppState, replica: &str, ids: impl Iterator<Item = ConsultId>) {
    for id in ids {
        if let Err(e) = state.store.release_consult_claim(id, replica).await {
            // The claim goes stale after `claim_ttl_secs` and another poll takes it over.
            tracing::warn!(error = ?e, "could not release a consult claim");
        }
    }
}

/// Poll for due consults on this replica until the hub shuts down.
pub fn spawn(state: AppState) {
    let every = std::time::Duration::from_millis(state.config.consults.poll_ms.max(50));
    let replica = format!("replica-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = escalate_due(&state, &replica).await {
                tracing::error!(error = ?e, "could not escalate due consults");
            }
        }
    });
}
