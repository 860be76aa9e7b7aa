//! `POST /v1/search`: one page of a patient's record as the caller may read it, newest first,
//! with an opaque cursor, and `since` (what became readable after the caller's last view, plus
//! the ids still readable so a cache can drop what was revoked, expired or removed).
//!
//! An answer is encoded once and kept in the policy cache ([`crate::policy_cache::PageKey`]):
//! while no write concerning the patient (or every patient) went through this hub, it is younger
//! than `auth.policy_cache_ms`, the reader's access basis is the one it was computed under and
//! no grant it relied on has expired, the same request gets the same bytes without re-reading
//! or re-encoding. The clinician check, the patient-wide access decision and the access-log
//! entry (durable before the answer leaves) run on every request, hit or miss.

use super::identity::public_of;
use super::patients::{require_clinician, view};
use crate::audit::{self, Action, Entry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Who};
use crate::policy_cache::{Page, PageKey};
use crate::state::AppState;
use bytes::Bytes;
use medshare_model::DocumentId;
use medshare_model::api::*;
use medshare_store::DocumentPage;
use std::collections::BTreeMap;

/// Where a page starts: after the entry filed at `created_at` with id `id` in search order
/// (newest first by `(created_at, id)`, [`DocumentPage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    created_at: i64,
    id: DocumentId,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("c1.{}.{}", self.created_at, self.id)
    }

    fn decode(text: &str) -> ApiResult<Self> {
        let bad = || ApiError::bad_request("the search cursor is malformed");
        let rest = text.strip_prefix("c1.").ok_or_else(bad)?;
        let (at, id) = rest.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            created_at: at.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// The hub time a `since` names, in Unix seconds.
fn as_of(t: i64) -> String {
    format!("t1.{t}")
}

fn since(text: &str) -> ApiResult<i64> {
    text.strip_prefix("t1.")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::bad_request("the search `since` is malformed"))
}

fn encode(result: &SearchResult) -> ApiResult<Bytes> {
    serde_json::to_vec(result)
        .map(Bytes::from)
        .map_err(|_| ApiError::internal())
}

/// The search answer, encoded as JSON.
pub async fn search(state: &AppState, caller: &Caller, req: SearchRequest) -> ApiResult<Bytes> {
    let limit = req.limit.unwrap_or(SearchRequest::DEFAULT_LIMIT);
    if limit == 0 || limit > SearchRequest::MAX_LIMIT {
        return Err(ApiError::bad_request(
            "a search page holds between 1 and 500 entries",
        ));
    }
    let cursor = req.cursor.as_deref().map(Cursor::decode).transpose()?;
    let since = req.since.as_deref().map(since).transpose()?;
    if let Err(e) = require_clinician(caller) {
        audit::record(
            state,
            Entry::new(Action::Search, false, "not-a-certified-clinician").by(&caller.practitioner),
        )
        .await?;
        return Err(e);
    }
    let n = state.now();
    let empty = |current: Option<Vec<DocumentId>>| SearchResult {
        patient: None,
        documents: Vec::new(),
        practitioners: Vec::new(),
        next: None,
        as_of: as_of(n),
        current,
    };
    // With `since`, an empty answer still lists what is readable: nothing.
    let none_current = || since.map(|_| Vec::new());
    let key = PageKey {
        reader: caller.id(),
        institution: caller.practitioner.institution_id,
        patient_ref: req.patient_ref.clone(),
        limit,
        cursor: req.cursor.clone(),
        since: req.since.clone(),
    };
    let entry = |pid, basis: &'static str| {
        Entry::new(Action::Search, true, basis)
            .by(&caller.practitioner)
            .patient(pid)
    };
    // A page answered before names the patient its reference resolved to (a reference never
    // moves to another patient): the access decision is taken again, on inputs no write has
    // changed since the page was computed.
    if let Some(page) = state.policy_cache.page(&key) {
        let basis = policy::patient_basis(state, caller, page.patient).await?;
        if page.basis == basis && n < page.valid_before {
            // The same decision on the same inputs: the same entry in the log, durable first.
            let receipt = audit::submit(state, entry(page.patient, page.logged_basis)).await;
            receipt.durable().await.map_err(audit::log_failed)?;
            return Ok(page.body.clone());
        }
    }
    let Some(pid) = state
        .store
        .patient_by_refs(std::slice::from_ref(&req.patient_ref))
        .await?
    else {
        audit::record(
            state,
            Entry::new(Action::Search, true, "not-found").by(&caller.practitioner),
        )
        .await?;
        return encode(&empty(none_current()));
    };
    // Before any policy input is read: a write from here on makes what is read stale.
    let ticket = state.policy_cache.ticket(pid);
    let who = Who::from(caller);
    let patient_basis = policy::patient_basis(state, caller, pid).await?;
    let entry = |basis| entry(pid, basis);
    // With patient-wide access the outcome is known now: the entry commits while the response
    // is assembled. Otherwise it depends on the grants found below.
    let early = if patient_basis.allowed() {
        Some(audit::submit(state, entry(patient_basis.as_str())).await)
    } else {
        None
    };
    let grants: BTreeMap<_, _> = policy::grants_on_patient(state, pid, caller.id())
        .await?
        .iter()
        .map(|g| (g.document_id, g.clone()))
        .collect();
    // The page stays true until the first grant live now expires.
    let valid_before = grants
        .values()
        .filter(|g| g.is_live(n))
        .filter_map(|g| g.expires_at)
        .min()
        .unwrap_or(i64::MAX);
    // Every check runs on every document sent. The store reads the page in search order and
    // only narrows what it reads (after the cursor; changed since; without patient-wide access,
    // what the caller uploaded or was ever granted): access is decided here, row by row, so a
    // row the policy refuses costs a further read, never a skipped check.
    let readable = |uploader, id: DocumentId| {
        let facts = policy::DocumentFacts {
            uploader,
            grant_live: grants.get(&id).is_some_and(|g| g.is_live(n)),
        };
        policy::document_access(&who, &facts, patient_basis).allowed()
    };
    let want = limit as usize + 1;
    let mut query = DocumentPage {
        patient: pid,
        after: cursor.map(|c| (c.created_at, c.id)),
        since: since.map(|t| (t, caller.id())),
        own_or_shared: (!patient_basis.allowed()).then(|| caller.id()),
        limit: 0,
    };
    let mut docs = Vec::with_capacity(want);
    loop {
        let missing = want - docs.len();
        query.limit = u32::try_from(missing).map_err(|_| ApiError::internal())?;
        let rows = state.store.documents_page(&query).await?;
        let exhausted = rows.len() < missing;
        query.after = rows.last().map(|d| (d.created_at, d.id));
        docs.extend(rows.into_iter().filter(|d| readable(d.uploader, d.id)));
        if exhausted || docs.len() >= want {
            break;
        }
    }
    // What is readable at all, when this page cannot tell: `current` (the first page of a
    // `since` view), or an empty page behind a cursor or `since` without patient-wide access.
    let need_all = matches!((since, cursor), (Some(_), None))
        || (docs.is_empty() && !patient_basis.allowed() && (since.is_some() || cursor.is_some()));
    let all: Option<Vec<DocumentId>> = if need_all {
        Some(
            state
                .store
                .document_heads(pid)
                .await?
                .into_iter()
                .filter(|h| readable(h.uploader, h.id))
                .map(|h| h.id)
                .collect(),
        )
    } else {
        None
    };
    let none_readable = match &all {
        Some(all) => all.is_empty(),
        None => docs.is_empty(),
    };
    if none_readable && !patient_basis.allowed() {
        audit::record(
            state,
            Entry::new(Action::Search, false, patient_basis.as_str())
                .by(&caller.practitioner)
                .patient(pid),
        )
        .await?;
        return encode(&empty(none_current()));
    }
    let logged_basis = match early {
        Some(_) => patient_basis.as_str(),
        None => "grant",
    };
    let receipt = match early {
        Some(r) => r,
        None => audit::submit(state, entry(logged_basis)).await,
    };
    // The first page of a `since` view lists everything readable now, so a cache drops the rest.
    // (A document readable for another reason that started at or after `since`, such as a new
    // care relationship, is in `current` but not sent: the client then searches in full.)
    let current = match (since, cursor) {
        (Some(_), None) => all,
        _ => None,
    };
    let next = (docs.len() > limit as usize).then(|| {
        let last = &docs[limit as usize - 1];
        Cursor {
            created_at: last.created_at,
            id: last.id,
        }
        .encode()
    });
    docs.truncate(limit as usize);

    let ids: Vec<_> = docs.iter().map(|d| d.id).collect();
    let mut wraps: BTreeMap<_, Vec<KeyWrap>> = BTreeMap::new();
    if !ids.is_empty() {
        for (doc, w) in state.store.document_key_wraps(&ids, caller.id()).await? {
            if matches!(w.holder, Holder::Patient { .. }) && !patient_basis.allowed() {
                continue;
            }
            wraps.entry(doc).or_default().push(w);
        }
    }
    // Each uploader's certificates once; entries refer to them by index.
    let mut index = BTreeMap::new();
    let mut practitioners = Vec::new();
    let mut documents = Vec::with_capacity(docs.len());
    for d in docs {
        let uploader = match index.get(&d.uploader) {
            Some(&i) => i,
            None => {
                let p = state
                    .store
                    .practitioner(d.uploader)
                    .await?
                    .ok_or_else(ApiError::internal)?;
                practitioners.push(public_of(state, &p).await?);
                let i = u32::try_from(practitioners.len() - 1).map_err(|_| ApiError::internal())?;
                index.insert(d.uploader, i);
                i
            }
        };
        documents.push(SearchEntry {
            uploader,
            institution_id: d.institution_id,
            created_at: d.created_at,
            wraps: wraps.remove(&d.id).unwrap_or_default(),
            binding: d.binding.payload,
            signature: d.binding.signature,
            manifest: d.manifest,
        });
    }
    let patient = match cursor {
        None => Some(view(state, caller, pid, patient_basis).await?),
        Some(_) => None,
    };
    let body = encode(&SearchResult {
        patient,
        documents,
        practitioners,
        next,
        as_of: as_of(n),
        current,
    })?;
    state.policy_cache.put_page(
        ticket,
        key,
        Page {
            patient: pid,
            basis: patient_basis,
            logged_basis,
            valid_before,
            body: body.clone(),
        },
    );
    // Durable before the records leave.
    receipt.durable().await.map_err(audit::log_failed)?;
    Ok(body)
}
