//! Case rooms: end-to-end encrypted group discussion with Messaging Layer Security (RFC 9420,
//! `openmls`). The hub is the delivery service: it keeps key packages, orders each room's
//! commits and messages, and routes welcomes; it never holds a group secret.
//!
//! Identity: a practitioner's MLS signature key *is* their certified Ed25519 key and their MLS
//! credential names their practitioner id, so every member (the creator on invitation, joiners
//! on the welcome, everyone on each commit) checks each leaf against the alliance root the same
//! way as any certificate: a hub that substitutes a key package or a member is refused.
//!
//! State: [`RoomKeys`] holds this device's MLS groups, its unused key packages and each room's
//! decrypted history (forward secrecy means a message can be decrypted once only). It contains
//! secrets and health information: [`Client::seal_rooms`] seals it to the practitioner's own key
//! for the caller to keep (the CLI in a 0600 file); nothing here touches files.

use crate::error::{ClientError, Result};
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_model::api::{
    ClaimedKeyPackage, CommitPost, KeyPackageCount, KeyPackageUpload, MessagePost, NewRoom, Posted,
    ReadMark, RoomEntries, RoomEntry, RoomEntryKind, RoomView, RoomWelcome,
};
use medshare_model::{DocumentId, ErrorCode, PatientId, PractitionerId, RoomBlobId, RoomId};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// X25519, AES-128-GCM, SHA-256, Ed25519: Ed25519 because the certified keys are Ed25519.
const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
/// Largest message text accepted before encryption (the hub has its own, larger, limit).
pub const MAX_TEXT: usize = 16 * 1024;
/// Past epochs whose keys a member keeps, so a message sent just before a commit still opens.
const PAST_EPOCHS: usize = 4;

/// The MLS provider: RustCrypto for primitives, an in-memory store this module serialises.
#[derive(Default)]
struct Provider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;
    fn storage(&self) -> &MemoryStorage {
        &self.storage
    }
    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }
    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

/// The practitioner's certified key signing MLS content (see
/// [`medshare_crypto::SigningKey::sign_mls`]).
struct CertifiedSigner<'a>(&'a medshare_crypto::SigningKey);

impl Signer for CertifiedSigner<'_> {
    fn sign(&self, payload: &[u8]) -> std::result::Result<Vec<u8>, SignerError> {
        self.0
            .sign_mls(payload)
            .map(|s| s.to_vec())
            .map_err(|_| SignerError::SigningError)
    }
    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// What a room message says, inside the MLS ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Content {
    /// The room's title and the patient it is about (sealed from the hub).
    Info {
        /// The room's title.
        title: String,
        /// The patient the room is about, if any.
        patient: Option<PatientId>,
    },
    /// A text message.
    Text {
        /// The text.
        text: String,
        /// The message this one answers.
        reply_to: Option<i64>,
    },
    /// An emoji reaction to a message.
    Reaction {
        /// The sequence number of the message reacted to.
        to: i64,
        /// One emoji.
        emoji: String,
    },
    /// A new text for one of the sender's own messages.
    Edit {
        /// The sequence number of the message edited.
        of: i64,
        /// Its new text.
        text: String,
    },
    /// The sender withdraws one of their own messages.
    Delete {
        /// The sequence number of the message withdrawn.
        of: i64,
    },
    /// A voice note: its sealed audio is a room attachment on the hub; the key that opens it
    /// and the hashes that check it are here, inside the MLS ciphertext (see [`crate::voice`]).
    Voice {
        /// The attachment holding the sealed audio.
        blob_id: RoomBlobId,
        /// The age identity the audio is sealed to (secret: only room members read it).
        key: String,
        /// SHA-256 of the sealed audio, hex.
        ciphertext_sha256: String,
        /// SHA-256 of the audio, hex.
        sha256: String,
        /// Audio size in bytes.
        size: u64,
        /// Media type, recognised from the content (`audio/webm`, `audio/ogg`, ...).
        media_type: String,
        /// Duration in milliseconds, when known.
        duration_ms: Option<u64>,
    },
    /// A document shared with every member through the normal key wraps (grants).
    Document {
        /// The document (open it with [`Client::open_document`]).
        document_id: DocumentId,
        /// Its title as the sender's client decrypted it.
        title: String,
    },
}

impl Content {
    fn kind(&self) -> RoomEntryKind {
        match self {
            Self::Info { .. } => RoomEntryKind::Info,
            Self::Text { .. } => RoomEntryKind::Text,
            Self::Reaction { .. } => RoomEntryKind::Reaction,
            Self::Edit { .. } => RoomEntryKind::Edit,
            Self::Delete { .. } => RoomEntryKind::Delete,
            Self::Voice { .. } => RoomEntryKind::Voice,
            Self::Document { .. } => RoomEntryKind::Document,
        }
    }
}

/// A room's history as people read it: edits applied (marked), deletions shown as such,
/// reactions gathered under their message, and edits or deletions of someone else's message
/// ignored.
pub fn timeline(local: &RoomLocal) -> Vec<TimelineItem> {
    let mut items: Vec<TimelineItem> = Vec::new();
    for m in &local.history {
        match &m.event {
            RoomEvent::Message {
                content: Content::Reaction { to, emoji },
            } => {
                if let Some(i) = items.iter_mut().find(|i| i.seq == *to) {
                    i.reactions.push((m.sender, emoji.clone()));
                }
            }
            RoomEvent::Message {
                content: Content::Edit { of, text },
            } => {
                if let Some(i) = items
                    .iter_mut()
                    .find(|i| i.seq == *of && i.sender == m.sender)
                    && let RoomEvent::Message {
                        content: Content::Text { text: t, .. },
                    } = &mut i.event
                {
                    *t = text.clone();
                    i.edited = true;
                }
            }
            RoomEvent::Message {
                content: Content::Delete { of },
            } => {
                if let Some(i) = items
                    .iter_mut()
                    .find(|i| i.seq == *of && i.sender == m.sender)
                {
                    i.deleted = true;
                    match &mut i.event {
                        RoomEvent::Message {
                            content: Content::Text { text, .. },
                        } => text.clear(),
                        // A withdrawn voice note no longer opens from the timeline.
                        RoomEvent::Message {
                            content: Content::Voice { key, .. },
                        } => key.clear(),
                        _ => {}
                    }
                }
            }
            _ => items.push(TimelineItem {
                seq: m.seq,
                sender: m.sender,
                at: m.at,
                event: m.event.clone(),
                edited: false,
                deleted: false,
                reactions: Vec::new(),
            }),
        }
    }
    items
}

/// One line of [`timeline`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineItem {
    /// Its place in the room's log.
    pub seq: i64,
    /// Who sent it (the MLS signer, checked against the alliance root).
    pub sender: PractitionerId,
    /// When the hub received it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What it is, with its latest text if edited.
    pub event: RoomEvent,
    /// Its sender edited it.
    pub edited: bool,
    /// Its sender withdrew it (its text is gone).
    pub deleted: bool,
    /// Who reacted with what.
    pub reactions: Vec<(PractitionerId, String)>,
}

/// One entry of a room as this client understood it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    /// Its place in the room's log.
    pub seq: i64,
    /// Who sent it (the MLS signer, checked against the alliance root).
    pub sender: PractitionerId,
    /// When the hub received it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What it is.
    pub event: RoomEvent,
}

/// A message, or a membership change read from a commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RoomEvent {
    /// A message.
    Message {
        /// What it says.
        content: Content,
    },
    /// This device joined (from a welcome).
    Joined {
        /// Everyone in the room then, each checked against the alliance root.
        members: Vec<PractitionerId>,
    },
    /// The owner added members.
    Added {
        /// Who, each checked against the alliance root.
        members: Vec<PractitionerId>,
    },
    /// The owner removed members.
    Removed {
        /// Who.
        members: Vec<PractitionerId>,
    },
    /// A member renewed their keys (post-compromise security).
    KeysUpdated,
    /// This client was removed: nothing after this can be read.
    YouWereRemoved,
}

/// What this device knows of one room.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RoomLocal {
    /// The last log entry processed.
    pub cursor: i64,
    /// The room's title, once an `info` message was read.
    pub title: Option<String>,
    /// The patient the room is about, if any.
    pub patient: Option<PatientId>,
    /// This device was removed from the room.
    pub removed: bool,
    /// Everything this device read in the room, in order.
    pub history: Vec<RoomMessage>,
}

/// This device's MLS state and room histories. Secret: seal it with [`Client::seal_rooms`].
#[derive(Default)]
pub struct RoomKeys {
    provider: Provider,
    rooms: BTreeMap<RoomId, RoomLocal>,
}

#[derive(Serialize, Deserialize)]
struct SavedRooms {
    /// The MLS store: base64 key -> base64 value.
    mls: Vec<(String, String)>,
    rooms: BTreeMap<RoomId, RoomLocal>,
}

impl RoomKeys {
    /// Empty state (a device that has never been in a room).
    pub fn new() -> Self {
        Self::default()
    }

    /// What this device knows of a room.
    pub fn room(&self, id: RoomId) -> Option<&RoomLocal> {
        self.rooms.get(&id)
    }

    /// Every room this device holds.
    pub fn rooms(&self) -> impl Iterator<Item = (&RoomId, &RoomLocal)> {
        self.rooms.iter()
    }

    /// The state as bytes (secret: seal before storing).
    fn to_bytes(&self) -> Vec<u8> {
        let values = self.provider.storage.values.read().expect("poisoned");
        let mls = values
            .iter()
            .map(|(k, v)| (B64.encode(k), B64.encode(v)))
            .collect();
        serde_json::to_vec(&SavedRooms {
            mls,
            rooms: self.rooms.clone(),
        })
        .expect("room state serialises")
    }

    fn from_bytes(b: &[u8]) -> Result<Self> {
        let bad = || ClientError::Invalid("the saved room state is corrupt".into());
        let saved: SavedRooms = serde_json::from_slice(b).map_err(|_| bad())?;
        let mut map = HashMap::new();
        for (k, v) in saved.mls {
            map.insert(
                B64.decode(k).map_err(|_| bad())?,
                B64.decode(v).map_err(|_| bad())?,
            );
        }
        let keys = Self {
            provider: Provider::default(),
            rooms: saved.rooms,
        };
        *keys.provider.storage.values.write().expect("poisoned") = map;
        Ok(keys)
    }

    /// Fails unless this device is (still) in `room`.
    pub(crate) fn group_exists(&self, room: RoomId) -> Result<()> {
        if self.rooms.get(&room).is_some_and(|l| l.removed) {
            return Err(ClientError::Invalid(
                "this device was removed from the room".into(),
            ));
        }
        self.group(room).map(|_| ())
    }

    fn group(&self, room: RoomId) -> Result<MlsGroup> {
        MlsGroup::load(self.provider.storage(), &group_id(room))
            .map_err(|_| ClientError::Invalid("the room state cannot be read".into()))?
            .ok_or_else(|| ClientError::Invalid("this device is not in that room".into()))
    }
}

fn group_id(room: RoomId) -> GroupId {
    GroupId::from_slice(room.0.as_bytes())
}

fn mls_err(what: &'static str) -> impl Fn(&dyn std::fmt::Debug) -> ClientError {
    move |_| ClientError::Invalid(format!("{what} failed"))
}

fn encode(m: &impl tls_codec::Serialize) -> Result<String> {
    Ok(B64.encode(
        m.tls_serialize_detached()
            .map_err(|_| ClientError::Invalid("an MLS message does not encode".into()))?,
    ))
}

fn decode_msg(b64: &str) -> Result<MlsMessageBodyIn> {
    let bad = || ClientError::Trust("the hub served a malformed MLS message");
    let bytes = B64.decode(b64).map_err(|_| bad())?;
    Ok(MlsMessageIn::tls_deserialize_exact(bytes.as_slice())
        .map_err(|_| bad())?
        .extract())
}

/// The practitioner id an MLS credential names.
fn identity_of(c: &Credential) -> Result<PractitionerId> {
    let bad = || ClientError::Trust("a room member's MLS credential names no practitioner");
    let basic = BasicCredential::try_from(c.clone()).map_err(|_| bad())?;
    std::str::from_utf8(basic.identity())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

impl Client {
    fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.me.to_string().into_bytes()).into(),
            signature_key: self.keys.signing.public().to_vec().into(),
        }
    }

    /// Check a leaf against the alliance root: its credential names a certified, not removed
    /// practitioner whose certified key is the leaf's signature key. Returns who it is.
    async fn verify_leaf(
        &self,
        credential: &Credential,
        signature_key: &[u8],
    ) -> Result<PractitionerId> {
        let id = identity_of(credential)?;
        let p = self.trust.fetch_practitioner(&self.hub, id).await?;
        self.trust.require_current(&p)?;
        if p.sign_public.as_slice() != signature_key {
            return Err(ClientError::Trust(
                "a room member's MLS key is not the key their institution certified",
            ));
        }
        Ok(id)
    }

    /// Publish `n` fresh key packages so colleagues can add this practitioner to rooms.
    pub async fn publish_key_packages(&self, keys: &mut RoomKeys, n: usize) -> Result<i64> {
        let signer = CertifiedSigner(&self.keys.signing);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let bundle = KeyPackage::builder()
                .build(SUITE, &keys.provider, &signer, self.credential())
                .map_err(|e| mls_err("creating a key package")(&e))?;
            out.push(encode(bundle.key_package())?);
        }
        let c: KeyPackageCount = self
            .hub
            .post(
                "/v1/rooms/key-packages",
                &KeyPackageUpload { key_packages: out },
            )
            .await?;
        Ok(c.available)
    }

    /// How many of this practitioner's key packages the hub still holds.
    pub async fn key_packages_waiting(&self) -> Result<i64> {
        let c: KeyPackageCount = self.hub.get("/v1/rooms/key-packages").await?;
        Ok(c.available)
    }

    /// The hub's view of a room (ids and order only), checked to be the room asked for.
    pub async fn room_view(&self, room: RoomId) -> Result<RoomView> {
        let v: RoomView = self.hub.get(&format!("/v1/rooms/{room}")).await?;
        if v.room_id != room {
            return Err(ClientError::Trust("the hub answered with another room"));
        }
        Ok(v)
    }

    /// Rooms the caller belongs to, as the hub lists them.
    pub async fn list_rooms(&self) -> Result<Vec<RoomView>> {
        self.hub.get("/v1/rooms").await
    }

    /// Open a room with a title (and optionally the patient it is about), both sealed from the
    /// hub inside the group.
    pub async fn create_room(
        &self,
        keys: &mut RoomKeys,
        title: &str,
        patient: Option<PatientId>,
    ) -> Result<RoomId> {
        let room = RoomId::new();
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(PAST_EPOCHS)
            .build();
        MlsGroup::new_with_group_id(
            &keys.provider,
            &CertifiedSigner(&self.keys.signing),
            &config,
            group_id(room),
            self.credential(),
        )
        .map_err(|e| mls_err("creating the room")(&e))?;
        self.hub
            .post::<_, RoomView>("/v1/rooms", &NewRoom { room_id: room })
            .await?;
        keys.rooms.insert(room, RoomLocal::default());
        self.post(
            keys,
            room,
            Content::Info {
                title: title.to_string(),
                patient,
            },
        )
        .await?;
        Ok(room)
    }

    /// Add colleagues: claim one key package of each, verify it against the alliance root,
    /// and commit their addition for the room's current epoch.
    pub async fn invite_to_room(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        who: &[PractitionerId],
    ) -> Result<()> {
        self.sync_room(keys, room).await?;
        let mut packages = Vec::with_capacity(who.len());
        for id in who {
            let c: ClaimedKeyPackage = self
                .hub
                .post(&format!("/v1/practitioners/{id}/key-package"), &())
                .await?;
            if c.practitioner_id != *id {
                return Err(ClientError::Trust(
                    "the hub answered with another practitioner's key package",
                ));
            }
            let bad = || ClientError::Trust("the hub served a malformed key package");
            let bytes = B64.decode(&c.key_package).map_err(|_| bad())?;
            let kp = KeyPackageIn::tls_deserialize_exact(bytes.as_slice())
                .map_err(|_| bad())?
                .validate(keys.provider.crypto(), ProtocolVersion::Mls10)
                .map_err(|_| ClientError::Trust("a key package's signature does not verify"))?;
            let leaf = kp.leaf_node();
            let named = self
                .verify_leaf(leaf.credential(), leaf.signature_key().as_slice())
                .await?;
            if named != *id {
                return Err(ClientError::Trust(
                    "the hub served a key package of someone other than the one invited",
                ));
            }
            packages.push(kp);
        }
        let mut group = keys.group(room)?;
        let (commit, welcome, _) = group
            .add_members(
                &keys.provider,
                &CertifiedSigner(&self.keys.signing),
                &packages,
            )
            .map_err(|e| mls_err("adding members")(&e))?;
        let post = CommitPost {
            epoch: epoch_of(&group),
            commit: encode(&commit)?,
            welcome: Some(encode(&welcome)?),
            added: who.to_vec(),
            removed: vec![],
        };
        self.send_commit(
            keys,
            room,
            group,
            post,
            RoomEvent::Added {
                members: who.to_vec(),
            },
        )
        .await?;
        // New members see the room from the commit that added them: send them the sealed
        // title and patient again.
        if let Some(local) = keys.rooms.get(&room)
            && let Some(title) = local.title.clone()
        {
            let patient = local.patient;
            self.post(keys, room, Content::Info { title, patient })
                .await?;
        }
        Ok(())
    }

    /// Remove members: after this commit they cannot read anything sent in the room.
    pub async fn remove_from_room(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        who: &[PractitionerId],
    ) -> Result<()> {
        self.sync_room(keys, room).await?;
        let mut group = keys.group(room)?;
        let mut leaves = Vec::new();
        for m in group.members() {
            if who.contains(&identity_of(&m.credential)?) {
                leaves.push(m.index);
            }
        }
        if leaves.len() != who.len() {
            return Err(ClientError::Invalid(
                "not everyone named is in the room".into(),
            ));
        }
        let (commit, _, _) = group
            .remove_members(
                &keys.provider,
                &CertifiedSigner(&self.keys.signing),
                &leaves,
            )
            .map_err(|e| mls_err("removing members")(&e))?;
        let post = CommitPost {
            epoch: epoch_of(&group),
            commit: encode(&commit)?,
            welcome: None,
            added: vec![],
            removed: who.to_vec(),
        };
        self.send_commit(
            keys,
            room,
            group,
            post,
            RoomEvent::Removed {
                members: who.to_vec(),
            },
        )
        .await
    }

    /// Renew this member's keys (heals a compromised device at this commit).
    pub async fn update_keys(&self, keys: &mut RoomKeys, room: RoomId) -> Result<()> {
        self.sync_room(keys, room).await?;
        let mut group = keys.group(room)?;
        let bundle = group
            .self_update(
                &keys.provider,
                &CertifiedSigner(&self.keys.signing),
                LeafNodeParameters::default(),
            )
            .map_err(|e| mls_err("renewing keys")(&e))?;
        let post = CommitPost {
            epoch: epoch_of(&group),
            commit: encode(bundle.commit())?,
            welcome: None,
            added: vec![],
            removed: vec![],
        };
        self.send_commit(keys, room, group, post, RoomEvent::KeysUpdated)
            .await
    }

    /// Post a commit; merge it once the hub has ordered it, drop it if the hub refused.
    async fn send_commit(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        mut group: MlsGroup,
        post: CommitPost,
        event: RoomEvent,
    ) -> Result<()> {
        match self
            .hub
            .post::<_, Posted>(&format!("/v1/rooms/{room}/commits"), &post)
            .await
        {
            Ok(p) => {
                group
                    .merge_pending_commit(&keys.provider)
                    .map_err(|e| mls_err("applying the commit")(&e))?;
                let local = keys.rooms.entry(room).or_default();
                local.cursor = local.cursor.max(p.seq);
                local.history.push(RoomMessage {
                    seq: p.seq,
                    sender: self.me,
                    at: OffsetDateTime::now_utc(),
                    event,
                });
                Ok(())
            }
            Err(e) => {
                let _ = group.clear_pending_commit(keys.provider.storage());
                Err(e)
            }
        }
    }

    /// Send a text message (optionally a reply).
    pub async fn send_text(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<i64> {
        if text.len() > MAX_TEXT {
            return Err(ClientError::Invalid(format!(
                "a message holds at most {MAX_TEXT} bytes"
            )));
        }
        self.sync_room(keys, room).await?;
        self.post(
            keys,
            room,
            Content::Text {
                text: text.to_string(),
                reply_to,
            },
        )
        .await
    }

    /// React to a message with an emoji.
    pub async fn react(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        to: i64,
        emoji: &str,
    ) -> Result<i64> {
        if emoji.is_empty() || emoji.chars().count() > 8 || emoji.chars().any(char::is_alphanumeric)
        {
            return Err(ClientError::Invalid("a reaction is one emoji".into()));
        }
        self.sync_room(keys, room).await?;
        self.post(
            keys,
            room,
            Content::Reaction {
                to,
                emoji: emoji.to_string(),
            },
        )
        .await
    }

    /// Replace the text of one of this practitioner's own messages (shown as edited).
    pub async fn edit_message(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        of: i64,
        text: &str,
    ) -> Result<i64> {
        if text.len() > MAX_TEXT {
            return Err(ClientError::Invalid(format!(
                "a message holds at most {MAX_TEXT} bytes"
            )));
        }
        self.sync_room(keys, room).await?;
        self.own_message(keys, room, of, false)?;
        self.post(
            keys,
            room,
            Content::Edit {
                of,
                text: text.to_string(),
            },
        )
        .await
    }

    /// Withdraw one of this practitioner's own messages (shown as deleted).
    pub async fn delete_message(&self, keys: &mut RoomKeys, room: RoomId, of: i64) -> Result<i64> {
        self.sync_room(keys, room).await?;
        self.own_message(keys, room, of, true)?;
        self.post(keys, room, Content::Delete { of }).await
    }

    /// `seq` is one of this practitioner's text messages (or, with `voice`, voice notes).
    fn own_message(&self, keys: &RoomKeys, room: RoomId, seq: i64, voice: bool) -> Result<()> {
        let ok = keys.room(room).is_some_and(|l| {
            l.history.iter().any(|m| {
                m.seq == seq
                    && m.sender == self.me
                    && match &m.event {
                        RoomEvent::Message {
                            content: Content::Text { .. },
                        } => true,
                        RoomEvent::Message {
                            content: Content::Voice { .. },
                        } => voice,
                        _ => false,
                    }
            })
        });
        if ok {
            Ok(())
        } else {
            Err(ClientError::Invalid(
                "you can only change your own messages".into(),
            ))
        }
    }

    /// Post a document into the room: share it with every other current member through the
    /// normal key wraps (grants, audited like any share), then tell the room.
    pub async fn post_document(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        id: DocumentId,
    ) -> Result<i64> {
        self.sync_room(keys, room).await?;
        let doc = self.open_document(id).await?;
        let members: Vec<PractitionerId> = keys
            .group(room)?
            .members()
            .map(|m| identity_of(&m.credential))
            .collect::<Result<_>>()?;
        for m in members.into_iter().filter(|m| *m != self.me) {
            let p = self.trust.fetch_practitioner(&self.hub, m).await?;
            let grantee = self
                .share(
                    id,
                    &crate::records::Share {
                        with: p.cert.handle.clone(),
                        institution: None,
                        expires_at: None,
                    },
                )
                .await?;
            if grantee.cert.practitioner_id != m {
                let _ = self.revoke(id, &p.cert.handle).await;
                return Err(ClientError::Trust(
                    "the hub resolved a room member's handle to someone else",
                ));
            }
        }
        self.post(
            keys,
            room,
            Content::Document {
                document_id: id,
                title: doc.manifest.title.clone(),
            },
        )
        .await
    }

    /// [`Client::post`] for the other modules of the core (voice notes).
    pub(crate) async fn post_content(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        content: Content,
    ) -> Result<i64> {
        self.post(keys, room, content).await
    }

    /// Send a message; if a commit landed first (the hub refuses the old epoch), catch up and
    /// send it again once, in the new epoch.
    async fn post(&self, keys: &mut RoomKeys, room: RoomId, content: Content) -> Result<i64> {
        match self.post_once(keys, room, content.clone()).await {
            Err(e) if is_stale(&e) => {
                self.sync_room(keys, room).await?;
                self.post_once(keys, room, content).await
            }
            r => r,
        }
    }

    async fn post_once(&self, keys: &mut RoomKeys, room: RoomId, content: Content) -> Result<i64> {
        let mut group = keys.group(room)?;
        let plain = serde_json::to_vec(&content).expect("content serialises");
        let msg = group
            .create_message(&keys.provider, &CertifiedSigner(&self.keys.signing), &plain)
            .map_err(|e| mls_err("encrypting the message")(&e))?;
        let p: Posted = self
            .hub
            .post(
                &format!("/v1/rooms/{room}/messages"),
                &MessagePost {
                    epoch: epoch_of(&group),
                    kind: content.kind(),
                    body: encode(&msg)?,
                },
            )
            .await?;
        let local = keys.rooms.entry(room).or_default();
        if let Content::Info { title, patient } = &content {
            local.title = Some(title.clone());
            local.patient = *patient;
        }
        // Our own message is in the log at p.seq; we do not process it again.
        local.cursor = local.cursor.max(p.seq);
        local.history.push(RoomMessage {
            seq: p.seq,
            sender: self.me,
            at: OffsetDateTime::now_utc(),
            event: RoomEvent::Message { content },
        });
        Ok(p.seq)
    }

    /// Catch up on a room: join it from the welcome if this device is not in it yet, then read
    /// every entry after the last one processed (in pages). Returns what is new.
    pub async fn sync_room(&self, keys: &mut RoomKeys, room: RoomId) -> Result<Vec<RoomMessage>> {
        let mut new = Vec::new();
        match keys.rooms.get(&room) {
            None => new.extend(self.join(keys, room).await?),
            // Removed once: added again if the hub holds a welcome newer than the removal.
            Some(local) if local.removed => {
                let cursor = local.cursor;
                let w: RoomWelcome = match self.hub.get(&format!("/v1/rooms/{room}/welcome")).await
                {
                    Ok(w) => w,
                    Err(e) if e.code() == Some(ErrorCode::Forbidden) => return Ok(new),
                    Err(e) => return Err(e),
                };
                if w.seq > cursor {
                    new.extend(self.join(keys, room).await?);
                }
            }
            Some(_) => {}
        }
        while let Some(local) = keys.rooms.get(&room) {
            if local.removed {
                break;
            }
            let after = local.cursor;
            let page: RoomEntries = self
                .hub
                .get(&format!("/v1/rooms/{room}/entries?after={after}&limit=200"))
                .await?;
            let more = page.more;
            let got = page.entries.len();
            new.extend(self.apply_entries(keys, room, page.entries).await?);
            if !more || got == 0 {
                break;
            }
        }
        Ok(new)
    }

    /// Join a room from the welcome the hub routed to us, verifying every member.
    async fn join(&self, keys: &mut RoomKeys, room: RoomId) -> Result<Vec<RoomMessage>> {
        let w: RoomWelcome = self.hub.get(&format!("/v1/rooms/{room}/welcome")).await?;
        if w.room_id != room {
            return Err(ClientError::Trust(
                "the hub answered with another room's welcome",
            ));
        }
        let MlsMessageBodyIn::Welcome(welcome) = decode_msg(&w.welcome)? else {
            return Err(ClientError::Trust(
                "the hub served something other than a welcome",
            ));
        };
        if keys.rooms.get(&room).is_some_and(|l| l.removed)
            && let Ok(mut old) = keys.group(room)
        {
            let _ = old.delete(keys.provider.storage());
        }
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .max_past_epochs(PAST_EPOCHS)
            .build();
        let group = StagedWelcome::new_from_welcome(&keys.provider, &config, welcome, None)
            .map_err(|_| ClientError::Trust("the welcome does not open with this device's keys"))?
            .into_group(&keys.provider)
            .map_err(|_| ClientError::Trust("the welcome does not open with this device's keys"))?;
        let joined = (|| -> Result<Vec<Member>> {
            if group.group_id() != &group_id(room) {
                return Err(ClientError::Trust("the welcome is for another room"));
            }
            Ok(group.members().collect())
        })();
        let members = match joined {
            Ok(m) => m,
            Err(e) => {
                let mut group = group;
                let _ = group.delete(keys.provider.storage());
                return Err(e);
            }
        };
        let mut ids = Vec::new();
        for m in &members {
            match self.verify_leaf(&m.credential, &m.signature_key).await {
                Ok(id) => ids.push(id),
                Err(e) => {
                    let mut group = group;
                    let _ = group.delete(keys.provider.storage());
                    return Err(e);
                }
            }
        }
        let msg = RoomMessage {
            seq: w.seq,
            sender: self.me,
            at: OffsetDateTime::now_utc(),
            event: RoomEvent::Joined { members: ids },
        };
        // A member added again keeps what they read before their removal.
        let mut history = keys
            .rooms
            .remove(&room)
            .map(|l| l.history)
            .unwrap_or_default();
        history.push(msg.clone());
        keys.rooms.insert(
            room,
            RoomLocal {
                cursor: w.seq,
                history,
                ..RoomLocal::default()
            },
        );
        Ok(vec![msg])
    }

    /// Process log entries of `room` in order (what [`Client::sync_room`] fetched; a test may
    /// hand over entries from elsewhere). An entry that does not open, names the wrong room or
    /// sender, or adds an unverifiable member stops processing with an error.
    pub async fn apply_entries(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        entries: Vec<RoomEntry>,
    ) -> Result<Vec<RoomMessage>> {
        let mut out = Vec::new();
        for e in entries {
            let local = keys
                .rooms
                .get(&room)
                .ok_or_else(|| ClientError::Invalid("this device is not in that room".into()))?;
            if local.removed {
                return Err(ClientError::Invalid(
                    "this device was removed from the room".into(),
                ));
            }
            if e.room_id != room {
                return Err(ClientError::Trust("the hub served another room's message"));
            }
            if e.seq <= local.cursor {
                return Err(ClientError::Trust("the hub served a message out of order"));
            }
            let msg = self.apply_entry(keys, room, &e).await?;
            let local = keys.rooms.get_mut(&room).expect("checked above");
            local.cursor = e.seq;
            if let Some(m) = msg {
                match &m.event {
                    RoomEvent::Message {
                        content: Content::Info { title, patient },
                    } => {
                        local.title = Some(title.clone());
                        local.patient = *patient;
                    }
                    RoomEvent::YouWereRemoved => local.removed = true,
                    _ => {}
                }
                local.history.push(m.clone());
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn apply_entry(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        e: &RoomEntry,
    ) -> Result<Option<RoomMessage>> {
        let protocol: ProtocolMessage = match decode_msg(&e.body)? {
            MlsMessageBodyIn::PrivateMessage(m) => m.into(),
            MlsMessageBodyIn::PublicMessage(m) => m.into(),
            _ => {
                return Err(ClientError::Trust(
                    "the hub served an unexpected MLS message",
                ));
            }
        };
        if protocol.group_id() != &group_id(room) {
            return Err(ClientError::Trust("the hub served another room's message"));
        }
        let mut group = keys.group(room)?;
        let processed = group
            .process_message(&keys.provider, protocol)
            .map_err(|_| {
                ClientError::Trust("a room message does not open: stale, replayed or altered")
            })?;
        let sender = identity_of(processed.credential())?;
        if sender != e.sender {
            return Err(ClientError::Trust(
                "the hub named another sender than the message's signer",
            ));
        }
        let at = e.at;
        let event = match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(a) => {
                let content: Content = serde_json::from_slice(&a.into_bytes()).map_err(|_| {
                    ClientError::Invalid("a room message this version cannot read".into())
                })?;
                RoomEvent::Message { content }
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let mut added = Vec::new();
                for a in staged.add_proposals() {
                    let leaf = a.add_proposal().key_package().leaf_node();
                    let id = self
                        .verify_leaf(leaf.credential(), leaf.signature_key().as_slice())
                        .await?;
                    added.push(id);
                }
                if let Some(leaf) = staged.update_path_leaf_node() {
                    self.verify_leaf(leaf.credential(), leaf.signature_key().as_slice())
                        .await?;
                }
                let mut removed = Vec::new();
                for r in staged.remove_proposals() {
                    if let Some(c) = group.member(r.remove_proposal().removed()) {
                        removed.push(identity_of(c)?);
                    }
                }
                let self_removed = staged.self_removed();
                group
                    .merge_staged_commit(&keys.provider, *staged)
                    .map_err(|e| mls_err("applying a commit")(&e))?;
                if self_removed {
                    RoomEvent::YouWereRemoved
                } else if !added.is_empty() {
                    RoomEvent::Added { members: added }
                } else if !removed.is_empty() {
                    RoomEvent::Removed { members: removed }
                } else {
                    RoomEvent::KeysUpdated
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(RoomMessage {
            seq: e.seq,
            sender,
            at,
            event,
        }))
    }

    /// Raw log entries of a room as the hub serves them to the caller (ciphertext).
    pub async fn room_entries(&self, room: RoomId, after: i64) -> Result<Vec<RoomEntry>> {
        let page: RoomEntries = self
            .hub
            .get(&format!("/v1/rooms/{room}/entries?after={after}&limit=500"))
            .await?;
        Ok(page.entries)
    }

    /// Tell the hub (and so the other members) that everything up to `seq` was read.
    pub async fn mark_room_read(&self, room: RoomId, seq: i64) -> Result<()> {
        self.hub
            .post_unit(&format!("/v1/rooms/{room}/read"), &ReadMark { seq })
            .await
    }

    /// Seal the room state to this practitioner's own key (for the caller to store).
    pub fn seal_rooms(&self, keys: &RoomKeys) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(keys.to_bytes());
        Ok(medshare_crypto::seal::seal_bytes(
            &[self.keys.encryption.recipient()],
            &plain,
        )?)
    }

    /// Open room state sealed by [`Client::seal_rooms`].
    pub fn open_rooms(&self, sealed: &[u8]) -> Result<RoomKeys> {
        let plain = medshare_crypto::seal::open_bytes(&self.keys.encryption, sealed)?;
        RoomKeys::from_bytes(&plain)
    }
}

fn epoch_of(g: &MlsGroup) -> i64 {
    i64::try_from(g.epoch().as_u64()).unwrap_or(i64::MAX)
}

/// Whether an error is the hub refusing a stale epoch (someone else committed first): sync
/// and try again.
pub fn is_stale(e: &ClientError) -> bool {
    e.code() == Some(ErrorCode::Conflict)
}
