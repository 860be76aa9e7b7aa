//! Case rooms and voice notes for the web app: conversions only over `medshare_client::rooms`
//! and `medshare_client::voice`. The device's MLS state lives in the worker (behind an async
//! lock, so two calls never interleave on it) and is kept between visits sealed to the
//! practitioner's own key (`Core::sealed_rooms`, as the CLI's `rooms-<id>.age`).

use crate::{Core, Person, invalid, js_error, ts};
use medshare_client::rooms::{Content, RoomEvent, TimelineItem, timeline};
use medshare_client::{Client, RoomKeys};
use medshare_model::{DocumentId, PractitionerId, RoomId};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use time::format_description::well_known::Rfc3339;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

/// Key packages kept waiting at the hub so colleagues can add this practitioner.
const KEY_PACKAGES: i64 = 10;

/// A room in the list.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct RoomSummary {
    pub room_id: String,
    /// The sealed title, once this device has joined.
    #[tsify(optional)]
    pub title: Option<String>,
    pub owner_is_me: bool,
    pub members: u32,
    pub unread: f64,
    pub joined_here: bool,
}

/// A member, as their verified certificate names them, with their read position.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct RoomMemberView {
    pub person: Person,
    pub owner: bool,
    pub read_seq: f64,
}

/// A voice note as the room's message describes it (the key stays in the worker).
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct VoiceView {
    pub media_type: String,
    #[tsify(optional)]
    pub duration_ms: Option<f64>,
    pub size: f64,
}

/// One line of a room's history: edits applied, deletions and reactions gathered.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct RoomLine {
    pub seq: f64,
    pub sender: String,
    pub sender_name: String,
    pub mine: bool,
    pub at: String,
    /// `text`, `voice`, `document`, `info`, `joined`, `added`, `removed`, `keys`,
    /// `you-were-removed`.
    pub kind: String,
    #[tsify(optional)]
    pub text: Option<String>,
    #[tsify(optional)]
    pub reply_to: Option<f64>,
    #[tsify(optional)]
    pub voice: Option<VoiceView>,
    #[tsify(optional)]
    pub document_id: Option<String>,
    /// Names of the members added or removed.
    pub members: Vec<String>,
    pub edited: bool,
    pub deleted: bool,
    /// (emoji, who) pairs.
    pub reactions: Vec<Vec<String>>,
    /// Members (other than the sender) whose read position is at or past this line.
    pub read_by: Vec<String>,
}

/// A room opened: history, members and who may change them.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct RoomDetail {
    pub room_id: String,
    #[tsify(optional)]
    pub title: Option<String>,
    pub owner_is_me: bool,
    pub removed: bool,
    pub members: Vec<RoomMemberView>,
    pub lines: Vec<RoomLine>,
    /// The newest sequence number processed here.
    pub cursor: f64,
}

fn parse_room(text: &str) -> Result<RoomId, JsValue> {
    text.parse().map_err(|_| invalid("not a room id"))
}

async fn name_of(client: &Client, id: PractitionerId) -> String {
    match client.trust().fetch_practitioner(client.hub(), id).await {
        Ok(p) => {
            let inst = client.trust().institution_cert_of(&p);
            match inst {
                Some(i) => format!("{} ({})", p.cert.name, i.cert.name),
                None => p.cert.name.clone(),
            }
        }
        Err(_) => "(unverified)".into(),
    }
}

async fn line(
    client: &Client,
    i: &TimelineItem,
    reads: &[(PractitionerId, i64, String)],
) -> RoomLine {
    let mut l = RoomLine {
        seq: i.seq as f64,
        sender: i.sender.to_string(),
        sender_name: name_of(client, i.sender).await,
        mine: i.sender == client.id(),
        at: i.at.format(&Rfc3339).unwrap_or_default(),
        kind: String::new(),
        text: None,
        reply_to: None,
        voice: None,
        document_id: None,
        members: Vec::new(),
        edited: i.edited,
        deleted: i.deleted,
        reactions: Vec::new(),
        read_by: reads
            .iter()
            .filter(|(who, seq, _)| *who != i.sender && *seq >= i.seq)
            .map(|(_, _, name)| name.clone())
            .collect(),
    };
    for (who, emoji) in &i.reactions {
        l.reactions
            .push(vec![emoji.clone(), name_of(client, *who).await]);
    }
    let names = |ids: &[PractitionerId]| {
        let ids = ids.to_vec();
        async move {
            let mut out = Vec::new();
            for id in ids {
                out.push(name_of(client, id).await);
            }
            out
        }
    };
    match &i.event {
        RoomEvent::Message { content } => match content {
            Content::Text { text, reply_to } => {
                l.kind = "text".into();
                l.text = Some(text.clone());
                l.reply_to = reply_to.map(|r| r as f64);
            }
            Content::Voice {
                media_type,
                duration_ms,
                size,
                ..
            } => {
                l.kind = "voice".into();
                l.voice = Some(VoiceView {
                    media_type: media_type.clone(),
                    duration_ms: duration_ms.map(|d| d as f64),
                    size: *size as f64,
                });
            }
            Content::Document { document_id, title } => {
                l.kind = "document".into();
                l.text = Some(title.clone());
                l.document_id = Some(document_id.to_string());
            }
            Content::Info { title, .. } => {
                l.kind = "info".into();
                l.text = Some(title.clone());
            }
            // Folded into their message by `timeline`.
            Content::Reaction { .. } | Content::Edit { .. } | Content::Delete { .. } => {
                l.kind = "other".into();
            }
        },
        RoomEvent::Joined { members } => {
            l.kind = "joined".into();
            l.members = names(members).await;
        }
        RoomEvent::Added { members } => {
            l.kind = "added".into();
            l.members = names(members).await;
        }
        RoomEvent::Removed { members } => {
            l.kind = "removed".into();
            l.members = names(members).await;
        }
        RoomEvent::KeysUpdated => l.kind = "keys".into(),
        RoomEvent::YouWereRemoved => l.kind = "you-were-removed".into(),
    }
    l
}

impl Core {
    pub(crate) fn room_keys(&self) -> Result<Rc<futures::lock::Mutex<RoomKeys>>, JsValue> {
        self.client()?;
        let mut s = self.state.borrow_mut();
        Ok(s.rooms
            .get_or_insert_with(|| Rc::new(futures::lock::Mutex::new(RoomKeys::new())))
            .clone())
    }
}

#[wasm_bindgen]
impl Core {
    /// Restore this device's room state (what [`Core::sealed_rooms`] gave last time); call
    /// after login, before any room call.
    pub fn load_rooms(&self, sealed: Vec<u8>) -> Result<(), JsValue> {
        let client = self.client()?;
        let keys = if sealed.is_empty() {
            RoomKeys::new()
        } else {
            client.open_rooms(&sealed).map_err(js_error)?
        };
        self.state.borrow_mut().rooms = Some(Rc::new(futures::lock::Mutex::new(keys)));
        Ok(())
    }

    /// This device's room state sealed to the practitioner's own key, for IndexedDB.
    pub async fn sealed_rooms(&self) -> Result<Vec<u8>, JsValue> {
        let client = self.client()?;
        let keys = self.room_keys()?;
        let keys = keys.lock().await;
        client.seal_rooms(&keys).map_err(js_error)
    }

    /// The rooms this practitioner is in, with unread counts (joining new ones on this device);
    /// keeps key packages waiting.
    pub async fn rooms(&self) -> Result<Vec<Ts<RoomSummary>>, JsValue> {
        let client = self.client()?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let have = client.key_packages_waiting().await.map_err(js_error)?;
        if have < KEY_PACKAGES / 2 {
            client
                .publish_key_packages(&mut keys, (KEY_PACKAGES - have) as usize)
                .await
                .map_err(js_error)?;
        }
        let rooms = client.list_rooms().await.map_err(js_error)?;
        // A room this device has not joined yet is joined now (from its welcome), so its sealed
        // title can be shown; one that does not open stays in the list untitled.
        for r in &rooms {
            if keys.room(r.room_id).is_none() {
                let _ = client.sync_room(&mut keys, r.room_id).await;
            }
        }
        rooms
            .iter()
            .map(|r| {
                let local = keys.room(r.room_id);
                let read = r
                    .members
                    .iter()
                    .find(|m| m.practitioner_id == client.id())
                    .map_or(0, |m| m.read_seq);
                ts(&RoomSummary {
                    room_id: r.room_id.to_string(),
                    title: local.and_then(|l| l.title.clone()),
                    owner_is_me: r.owner == client.id(),
                    members: r.members.iter().filter(|m| m.until_seq.is_none()).count() as u32,
                    unread: (r.last_seq - read).max(0) as f64,
                    joined_here: local.is_some(),
                })
            })
            .collect()
    }

    /// Open a room with a title; `with` are practitioner ids to add straight away.
    pub async fn create_room(&self, title: String, with: Vec<String>) -> Result<String, JsValue> {
        let client = self.client()?;
        let who = parse_people(&with)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let room = client
            .create_room(&mut keys, title.trim(), None)
            .await
            .map_err(js_error)?;
        if !who.is_empty() {
            client
                .invite_to_room(&mut keys, room, &who)
                .await
                .map_err(js_error)?;
        }
        Ok(room.to_string())
    }

    /// Catch up on a room (joining it the first time) and show it.
    pub async fn room(&self, room_id: String) -> Result<Ts<RoomDetail>, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        client.sync_room(&mut keys, room).await.map_err(js_error)?;
        let view = client.room_view(room).await.map_err(js_error)?;
        let local = keys
            .room(room)
            .ok_or_else(|| invalid("this device is not in that room"))?;
        let mut members = Vec::new();
        let mut reads = Vec::new();
        for m in view.members.iter().filter(|m| m.until_seq.is_none()) {
            let p = client
                .trust()
                .fetch_practitioner(client.hub(), m.practitioner_id)
                .await
                .map_err(js_error)?;
            let person = Person::of(&client, &p);
            reads.push((m.practitioner_id, m.read_seq, person.name.clone()));
            members.push(RoomMemberView {
                person,
                owner: m.practitioner_id == view.owner,
                read_seq: m.read_seq as f64,
            });
        }
        let mut lines = Vec::new();
        for i in timeline(local) {
            let l = line(&client, &i, &reads).await;
            if l.kind != "other" {
                lines.push(l);
            }
        }
        ts(&RoomDetail {
            room_id: room.to_string(),
            title: local.title.clone(),
            owner_is_me: view.owner == client.id(),
            removed: local.removed,
            members,
            lines,
            cursor: local.cursor as f64,
        })
    }

    /// Mark everything up to `seq` read (a read receipt the other members see).
    pub async fn mark_room_read(&self, room_id: String, seq: f64) -> Result<(), JsValue> {
        let client = self.client()?;
        client
            .mark_room_read(parse_room(&room_id)?, seq as i64)
            .await
            .map_err(js_error)
    }

    /// Send a text (optionally replying to `reply_to`).
    pub async fn send_text(
        &self,
        room_id: String,
        text: String,
        reply_to: Option<f64>,
    ) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let seq = client
            .send_text(&mut keys, room, &text, reply_to.map(|r| r as i64))
            .await
            .map_err(js_error)?;
        Ok(seq as f64)
    }

    /// React to a message with one emoji.
    pub async fn react(&self, room_id: String, seq: f64, emoji: String) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let s = client
            .react(&mut keys, room, seq as i64, &emoji)
            .await
            .map_err(js_error)?;
        Ok(s as f64)
    }

    /// Change the text of one of this practitioner's messages (shown as edited).
    pub async fn edit_message(
        &self,
        room_id: String,
        seq: f64,
        text: String,
    ) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let s = client
            .edit_message(&mut keys, room, seq as i64, &text)
            .await
            .map_err(js_error)?;
        Ok(s as f64)
    }

    /// Withdraw one of this practitioner's messages or voice notes (shown as deleted).
    pub async fn delete_message(&self, room_id: String, seq: f64) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let s = client
            .delete_message(&mut keys, room, seq as i64)
            .await
            .map_err(js_error)?;
        Ok(s as f64)
    }

    /// Post an existing document into the room (shared with every member through grants).
    pub async fn post_document(
        &self,
        room_id: String,
        document_id: String,
    ) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let doc: DocumentId = document_id
            .parse()
            .map_err(|_| invalid("not a document id"))?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let s = client
            .post_document(&mut keys, room, doc)
            .await
            .map_err(js_error)?;
        Ok(s as f64)
    }

    /// Add colleagues (practitioner ids) to a room this practitioner owns.
    pub async fn invite_to_room(&self, room_id: String, who: Vec<String>) -> Result<(), JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let who = parse_people(&who)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        client
            .invite_to_room(&mut keys, room, &who)
            .await
            .map_err(js_error)
    }

    /// Remove members (practitioner ids): they cannot read anything sent afterwards.
    pub async fn remove_from_room(&self, room_id: String, who: Vec<String>) -> Result<(), JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let who = parse_people(&who)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        client
            .remove_from_room(&mut keys, room, &who)
            .await
            .map_err(js_error)
    }

    /// Send a voice note (recorded or picked; its type is recognised from its bytes).
    pub async fn post_voice(
        &self,
        room_id: String,
        audio: Vec<u8>,
        duration_ms: Option<f64>,
    ) -> Result<f64, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let audio = zeroize::Zeroizing::new(audio);
        let s = client
            .post_voice(
                &mut keys,
                room,
                &audio,
                duration_ms
                    .filter(|d| d.is_finite() && *d > 0.0)
                    .map(|d| d as u64),
            )
            .await
            .map_err(js_error)?;
        Ok(s as f64)
    }

    /// Open the voice note at `seq`: fetched, checked against its message and opened here.
    /// Resolves to the audio (its type is the line's `voice.media_type`).
    pub async fn open_voice(&self, room_id: String, seq: f64) -> Result<Vec<u8>, JsValue> {
        let client = self.client()?;
        let room = parse_room(&room_id)?;
        let keys = self.room_keys()?;
        let keys = keys.lock().await;
        let v = client
            .open_voice(&keys, room, seq as i64)
            .await
            .map_err(js_error)?;
        Ok(v.audio.to_vec())
    }
}

fn parse_people(ids: &[String]) -> Result<Vec<PractitionerId>, JsValue> {
    ids.iter()
        .map(|s| s.parse().map_err(|_| invalid("not a practitioner id")))
        .collect()
}
