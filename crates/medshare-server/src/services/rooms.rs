//! Case rooms: the hub as the MLS delivery service. It keeps key packages (each handed out
//! once), orders every room's commits and application messages in one log per room (a commit
//! only for the room's current epoch: a stale or replayed one is refused and changes nothing),
//! routes welcomes to added members and serves each member the part of the log from the commit
//! that added them to the one that removed them. It never interprets a message: the hub sees
//! room id, sender, time, size and kind. Membership changes are audited; members are told of
//! new entries by id only.

use super::{allow, decode_b64};
use crate::audit::{self, Action, Entry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, RoomFacts, Who};
use crate::state::{AppState, at};
use medshare_model::api::{
    ClaimedKeyPackage, CommitPost, EventKind, KeyPackageCount, KeyPackageUpload, MessagePost,
    NewRoom, Posted, ReadMark, RoomBlobStored, RoomEntries, RoomEntry, RoomEntryKind,
    RoomMemberView, RoomView, RoomWelcome,
};
use medshare_model::{ErrorCode, PractitionerId, RoomBlobId, RoomId};
use medshare_store::{NewEntry, RoomBlobRow, RoomRow};
use std::collections::HashSet;

/// Largest key package, commit, welcome and application message (bytes after base64).
pub const MAX_KEY_PACKAGE: usize = 8 * 1024;
pub const MAX_COMMIT: usize = 256 * 1024;
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Key packages one upload carries and one practitioner may have waiting.
pub const MAX_KEY_PACKAGES_PER_UPLOAD: usize = 50;
pub const MAX_KEY_PACKAGES_HELD: i64 = 200;
/// Largest page of a room's log.
pub const MAX_PAGE: i64 = 500;
/// Members one commit may add or remove.
pub const MAX_MEMBERS_PER_COMMIT: usize = 50;

fn facts(room: &RoomRow, who: PractitionerId) -> RoomFacts {
    let m = room.member(who);
    RoomFacts {
        owner: room.owner == who,
        member: m.is_some_and(|m| m.until_seq.is_none()),
        former: m.is_some_and(|m| m.until_seq.is_some()),
    }
}

fn view(r: &RoomRow) -> RoomView {
    RoomView {
        room_id: r.id,
        owner: r.owner,
        epoch: r.epoch,
        last_seq: r.last_seq,
        created_at: at(r.created_at),
        members: r
            .members
            .iter()
            .map(|m| RoomMemberView {
                practitioner_id: m.practitioner_id,
                from_seq: m.from_seq,
                until_seq: m.until_seq,
                read_seq: m.read_seq,
            })
            .collect(),
    }
}

async fn room(state: &AppState, id: RoomId) -> ApiResult<RoomRow> {
    state.store.room(id).await?.ok_or_else(ApiError::not_found)
}

/// Record a refusal and turn it into the API's error.
async fn refuse(state: &AppState, caller: &Caller, room: RoomId, why: policy::Refusal) -> ApiError {
    if let Err(e) = audit::record(
        state,
        Entry::new(Action::RoomRefused, false, why)
            .by(&caller.practitioner)
            .detail(format!("room:{room}")),
    )
    .await
    {
        return e;
    }
    super::refused(why)
}

fn stale() -> ApiError {
    ApiError::with(
        ErrorCode::Conflict,
        "the room has moved to a later epoch: catch up and try again",
    )
}

/// Keep the caller's key packages.
pub async fn upload_key_packages(
    state: &AppState,
    caller: &Caller,
    req: KeyPackageUpload,
) -> ApiResult<KeyPackageCount> {
    allow(policy::room_participant(&Who::from(caller)))?;
    if req.key_packages.is_empty() || req.key_packages.len() > MAX_KEY_PACKAGES_PER_UPLOAD {
        return Err(ApiError::bad_request("send between 1 and 50 key packages"));
    }
    for k in &req.key_packages {
        decode_b64(
            k,
            MAX_KEY_PACKAGE,
            "a key package is not base64 or too large",
        )?;
    }
    let available = state
        .store
        .add_key_packages(
            caller.id(),
            &req.key_packages,
            state.now(),
            MAX_KEY_PACKAGES_HELD,
        )
        .await
        .map_err(|e| match e {
            medshare_store::StoreError::Conflict => ApiError::with(
                ErrorCode::Conflict,
                "that would hold more than 200 key packages",
            ),
            e => e.into(),
        })?;
    Ok(KeyPackageCount { available })
}

/// How many key packages the caller has waiting.
pub async fn key_package_count(state: &AppState, caller: &Caller) -> ApiResult<KeyPackageCount> {
    Ok(KeyPackageCount {
        available: state.store.key_package_count(caller.id()).await?,
    })
}

/// Hand out one key package of `target` (to invite them).
pub async fn claim_key_package(
    state: &AppState,
    caller: &Caller,
    target: PractitionerId,
) -> ApiResult<ClaimedKeyPackage> {
    allow(policy::room_participant(&Who::from(caller)))?;
    let t = state
        .store
        .practitioner(target)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if policy::room_invitee(&Who::from(&t)).is_err() {
        return Err(ApiError::with(
            ErrorCode::Forbidden,
            "only certified clinicians can be added to rooms",
        ));
    }
    // Rate limits, in the database so every replica counts the same claims.
    let now = state.now();
    let window = 3600;
    let limits = &state.config.limits;
    let seen = state
        .store
        .key_package_claims(caller.id(), target, now - window + 1)
        .await?;
    let over = if seen.by_claimer >= limits.key_package_claims_per_pair_hourly {
        seen.oldest_by_claimer
    } else if seen.all >= limits.key_package_claims_per_target_hourly {
        seen.oldest
    } else {
        None
    };
    if let Some(oldest) = over {
        let mut e = ApiError::with(
            ErrorCode::TooManyRequests,
            "too many of this colleague's key packages were claimed in the last hour",
        );
        e.retry_after = Some((oldest + window - now).max(1) as u64);
        return Err(e);
    }
    let key_package = state
        .store
        .claim_key_package(target)
        .await?
        .ok_or(ApiError::with(
            ErrorCode::NotFound,
            "that colleague has no key packages waiting: they must open medshare once",
        ))?;
    state
        .store
        .record_key_package_claim(caller.id(), target, now, now - window)
        .await?;
    Ok(ClaimedKeyPackage {
        practitioner_id: target,
        key_package,
    })
}

/// Open a room (the caller is its owner and only member).
pub async fn create(state: &AppState, caller: &Caller, req: NewRoom) -> ApiResult<RoomView> {
    allow(policy::room_participant(&Who::from(caller)))?;
    state
        .store
        .create_room(req.room_id, caller.id(), state.now())
        .await?;
    audit::record(
        state,
        Entry::new(Action::RoomCreate, true, "owner")
            .by(&caller.practitioner)
            .detail(format!("room:{}", req.room_id)),
    )
    .await?;
    Ok(view(&room(state, req.room_id).await?))
}

/// Rooms the caller is a member of.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<RoomView>> {
    Ok(state
        .store
        .rooms_of(caller.id())
        .await?
        .iter()
        .map(view)
        .collect())
}

/// One room, for its members and former members.
pub async fn get(state: &AppState, caller: &Caller, id: RoomId) -> ApiResult<RoomView> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_read(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    Ok(view(&r))
}

/// Order a commit for the room's current epoch.
pub async fn commit(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    req: CommitPost,
) -> ApiResult<Posted> {
    let r = room(state, id).await?;
    let changes = !req.added.is_empty() || !req.removed.is_empty();
    if let Err(why) = policy::room_commit(&Who::from(caller), &facts(&r, caller.id()), changes) {
        return Err(refuse(state, caller, id, why).await);
    }
    decode_b64(
        &req.commit,
        MAX_COMMIT,
        "the commit is not base64 or too large",
    )?;
    if req.added.len() + req.removed.len() > MAX_MEMBERS_PER_COMMIT {
        return Err(ApiError::bad_request(
            "a commit adds or removes at most 50 members",
        ));
    }
    let mut seen = HashSet::new();
    if !req
        .added
        .iter()
        .chain(&req.removed)
        .all(|p| seen.insert(*p))
    {
        return Err(ApiError::bad_request("a member is named twice"));
    }
    match (&req.welcome, req.added.is_empty()) {
        (Some(w), false) => {
            decode_b64(w, MAX_COMMIT, "the welcome is not base64 or too large")?;
        }
        (None, true) => {}
        _ => {
            return Err(ApiError::bad_request(
                "a commit that adds members carries their welcome, and only then",
            ));
        }
    }
    for p in &req.added {
        if r.is_current_member(*p) {
            return Err(ApiError::bad_request(
                "that colleague is already in the room",
            ));
        }
        let t = state
            .store
            .practitioner(*p)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if policy::room_invitee(&Who::from(&t)).is_err() {
            return Err(ApiError::with(
                ErrorCode::Forbidden,
                "only certified clinicians can be added to rooms",
            ));
        }
    }
    for p in &req.removed {
        if !r.is_current_member(*p) {
            return Err(ApiError::bad_request("that colleague is not in the room"));
        }
        if *p == r.owner {
            return Err(ApiError::bad_request("the owner cannot be removed"));
        }
    }
    let seq = state
        .store
        .append_commit(
            NewEntry {
                room: id,
                epoch: req.epoch,
                kind: RoomEntryKind::Commit.as_str(),
                sender: caller.id(),
                at: state.now(),
                body: &req.commit,
            },
            &req.added,
            req.welcome.as_deref(),
            &req.removed,
        )
        .await?
        .ok_or_else(stale)?;
    for (action, who) in req
        .added
        .iter()
        .map(|p| (Action::RoomAdd, p))
        .chain(req.removed.iter().map(|p| (Action::RoomRemove, p)))
    {
        audit::record(
            state,
            Entry::new(action, true, "owner")
                .by(&caller.practitioner)
                .detail(format!("room:{id};member:{who};seq:{seq}")),
        )
        .await?;
    }
    for p in &req.added {
        state
            .notifier
            .publish(
                &state.store,
                *p,
                EventKind::RoomInvited {
                    room_id: id,
                    by: caller.id(),
                },
            )
            .await;
    }
    // Everyone who was in the room before the commit hears of it (the removed included: their
    // client learns it was removed).
    let told: Vec<_> = r
        .members
        .iter()
        .filter(|m| m.until_seq.is_none() && m.practitioner_id != caller.id())
        .map(|m| m.practitioner_id)
        .collect();
    tell(state, &told, id, seq, caller.id()).await;
    Ok(Posted { seq })
}

async fn tell(state: &AppState, to: &[PractitionerId], room: RoomId, seq: i64, by: PractitionerId) {
    // One transaction for every member's notice: a 50-member room's message was 49 commits.
    state
        .notifier
        .publish_to_all(
            &state.store,
            to,
            EventKind::RoomActivity {
                room_id: room,
                seq,
                by,
            },
        )
        .await;
}

/// Append an application message for the room's current epoch.
pub async fn post(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    req: MessagePost,
) -> ApiResult<Posted> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_post(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    if req.kind == RoomEntryKind::Commit {
        return Err(ApiError::bad_request("commits go to /commits"));
    }
    if req.body.len() > MAX_MESSAGE.div_ceil(3) * 4 + 4 {
        return Err(ApiError::with(
            ErrorCode::PayloadTooLarge,
            "a room message holds at most 64 KiB",
        ));
    }
    decode_b64(&req.body, MAX_MESSAGE, "the message is not base64")?;
    let seq = state
        .store
        .append_message(NewEntry {
            room: id,
            epoch: req.epoch,
            kind: req.kind.as_str(),
            sender: caller.id(),
            at: state.now(),
            body: &req.body,
        })
        .await?
        .ok_or_else(stale)?;
    let told: Vec<_> = r
        .members
        .iter()
        .filter(|m| m.until_seq.is_none() && m.practitioner_id != caller.id())
        .map(|m| m.practitioner_id)
        .collect();
    tell(state, &told, id, seq, caller.id()).await;
    Ok(Posted { seq })
}

/// A page of the log the caller may read: after the commit that added them, up to the one that
/// removed them.
pub async fn entries(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    after: i64,
    limit: i64,
) -> ApiResult<RoomEntries> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_read(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    if after < 0 || !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("after >= 0 and 1 <= limit <= 500"));
    }
    let m = r.member(caller.id()).ok_or_else(ApiError::forbidden)?;
    let until = m.until_seq.unwrap_or(r.last_seq);
    let rows = state
        .store
        .room_entries(id, after.max(m.from_seq), until, limit)
        .await?;
    let more = rows.last().is_some_and(|e| e.seq < until) && rows.len() as i64 == limit;
    let entries = rows
        .into_iter()
        .map(|e| {
            Ok(RoomEntry {
                room_id: e.room_id,
                seq: e.seq,
                kind: RoomEntryKind::parse(&e.kind).ok_or_else(ApiError::internal)?,
                sender: e.sender,
                epoch: e.epoch,
                at: at(e.at),
                body: e.body,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(RoomEntries { entries, more })
}

/// The welcome that added the caller.
pub async fn welcome(state: &AppState, caller: &Caller, id: RoomId) -> ApiResult<RoomWelcome> {
    let r = room(state, id).await?;
    let f = facts(&r, caller.id());
    if let Err(why) = policy::room_post(&Who::from(caller), &f) {
        return Err(refuse(state, caller, id, why).await);
    }
    let (seq, welcome) = state
        .store
        .room_welcome(id, caller.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(RoomWelcome {
        room_id: id,
        seq,
        welcome,
    })
}

/// Record the caller's read position (read receipts and unread counts).
pub async fn mark_read(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    req: ReadMark,
) -> ApiResult<()> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_read(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    if req.seq < 0 || req.seq > r.last_seq {
        return Err(ApiError::bad_request("that entry does not exist"));
    }
    state.store.mark_read(id, caller.id(), req.seq).await?;
    Ok(())
}

/// Largest room attachment (a voice note's ciphertext; the client core allows 16 MiB of
/// audio, and sealing adds a little).
pub const MAX_ROOM_BLOB: u64 = 17 * 1024 * 1024;

/// Refusal of an attachment over the room's quota.
const ROOM_QUOTA: &str =
    "the room's stored attachments would pass its quota ([limits] room_attachment_bytes_per_room)";
/// Refusal of an attachment over the sender's quota.
const MEMBER_QUOTA: &str = "your stored room attachments would pass your quota ([limits] \
     room_attachment_bytes_per_member)";

/// Store an attachment of a room (a voice note's ciphertext) under an id the hub chooses, for
/// a current member, within the room's and the sender's attachment quotas (413 and nothing
/// stored past either). The key is in the MLS message that names it: the hub holds ciphertext
/// only.
pub async fn put_blob(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    body: medshare_blob::ByteStream,
) -> ApiResult<RoomBlobStored> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_post(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    let limits = &state.config.limits;
    let room_limit = i64::try_from(limits.room_attachment_bytes_per_room).unwrap_or(i64::MAX);
    let member_limit = i64::try_from(limits.room_attachment_bytes_per_member).unwrap_or(i64::MAX);
    // Full already: refused before a byte of the body is read.
    let (room_bytes, member_bytes) = state.store.room_blob_usage(id, caller.id()).await?;
    if room_bytes >= room_limit {
        return Err(ApiError::with(ErrorCode::PayloadTooLarge, ROOM_QUOTA));
    }
    if member_bytes >= member_limit {
        return Err(ApiError::with(ErrorCode::PayloadTooLarge, MEMBER_QUOTA));
    }
    let staging = uuid::Uuid::new_v4();
    let staged = state
        .blobs
        .stage(staging, body, MAX_ROOM_BLOB)
        .await
        .map_err(|e| match e {
            medshare_blob::BlobError::TooLarge { .. } => ApiError::with(
                ErrorCode::PayloadTooLarge,
                "a room attachment holds at most 17 MiB",
            ),
            e => e.into(),
        })?;
    let blob = RoomBlobId::new();
    if let Err(e) = state.blobs.promote(staging, blob.0).await {
        let _ = state.blobs.discard(staging).await;
        return Err(e.into());
    }
    let row = RoomBlobRow {
        id: blob,
        room_id: id,
        sender: caller.id(),
        size: i64::try_from(staged.size).map_err(|_| ApiError::internal())?,
        sha256: staged.sha256_hex(),
        created_at: state.now(),
    };
    // Bytes first, then the row (recorded only within both quotas, checked in the same
    // statement): a crash in between leaves bytes no row names, which start-up reconciliation
    // removes.
    match state
        .store
        .add_room_blob(&row, room_limit, member_limit)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let _ = state.blobs.delete(blob.0).await;
            let (room_bytes, _) = state.store.room_blob_usage(id, caller.id()).await?;
            let why = if room_bytes + row.size > room_limit {
                ROOM_QUOTA
            } else {
                MEMBER_QUOTA
            };
            return Err(ApiError::with(ErrorCode::PayloadTooLarge, why));
        }
        Err(e) => {
            let _ = state.blobs.delete(blob.0).await;
            return Err(e.into());
        }
    }
    Ok(RoomBlobStored {
        room_id: id,
        blob_id: blob,
        size: staged.size,
        sha256: row.sha256,
    })
}

/// An attachment's ciphertext, for a current member of its room (a removed member gets
/// nothing more from the room, as for its log).
pub async fn get_blob(
    state: &AppState,
    caller: &Caller,
    id: RoomId,
    blob: RoomBlobId,
) -> ApiResult<medshare_blob::BlobRead> {
    let r = room(state, id).await?;
    if let Err(why) = policy::room_post(&Who::from(caller), &facts(&r, caller.id())) {
        return Err(refuse(state, caller, id, why).await);
    }
    match state.store.room_blob(blob).await? {
        Some(row) if row.room_id == id => Ok(state.blobs.get(blob.0, None).await?),
        _ => Err(ApiError::not_found()),
    }
}
