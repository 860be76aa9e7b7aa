//! `medshare room ...`: case rooms (MLS groups, the hub as delivery service). The device's MLS
//! state and decrypted room histories live in the config folder, sealed to the practitioner's
//! own key, mode 0600 (`rooms-<practitioner id>.age`).

use crate::profile;
use crate::{say, warn_user};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use futures::StreamExt;
use medshare_client::rooms::{Content, RoomEvent, RoomMessage, TimelineItem, timeline};
use medshare_client::{Client, RoomKeys};
use medshare_model::api::EventKind;
use medshare_model::{DocumentId, Handle, PatientId, PractitionerId, RoomId};
use std::path::PathBuf;

/// Key packages kept waiting at the hub, topped up by every room command.
const KEY_PACKAGES: i64 = 10;

#[derive(Subcommand, Debug)]
pub enum RoomCmd {
    /// Open a room (you are its owner); the title is sealed from the hub.
    Create(CreateArgs),
    /// Your rooms, with unread counts.
    List(JsonArg),
    /// Add colleagues (any institution of the alliance) by handle.
    Invite(MembersArgs),
    /// Remove members: they cannot read anything sent afterwards.
    Remove(MembersArgs),
    /// Send a text message.
    Send(SendArgs),
    /// Mark everything in the room as read (a read receipt the other members see).
    Read(RoomArg),
    /// Catch up and show the room's history (from when you joined).
    History(HistoryArgs),
    /// Show new messages as they arrive.
    Follow(RoomArg),
    /// React to a message with an emoji.
    React(ReactArgs),
    /// Change the text of one of your messages (shown as edited).
    Edit(EditArgs),
    /// Withdraw one of your messages (shown as deleted).
    Delete(SeqArgs),
    /// Post a document into the room: it is shared with every member (audited like any share).
    PostDoc(PostDocArgs),
    /// Send a voice note (WebM/Opus, Ogg, M4A/AAC, MP3, WAV or FLAC; at most 16 MiB): sealed,
    /// its key sent to the members inside the room's encryption.
    Voice(VoiceArgs),
    /// Save a voice note from the room's history (`#SEQ` in `room history`) to a file.
    VoiceGet(VoiceGetArgs),
    /// Renew your keys in a room (heals a compromised device from this commit on).
    UpdateKeys(RoomArg),
}

#[derive(Args, Debug)]
pub struct JsonArg {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub title: String,
    /// The patient the room is about (their medshare patient id; sealed from the hub).
    #[arg(long)]
    pub patient_id: Option<PatientId>,
    /// Colleagues to add straight away.
    #[arg(long = "with")]
    pub with: Vec<Handle>,
}

#[derive(Args, Debug)]
pub struct MembersArgs {
    pub room: RoomId,
    #[arg(required = true)]
    pub handles: Vec<Handle>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    pub room: RoomId,
    pub text: String,
    /// The message (sequence number) this one answers.
    #[arg(long)]
    pub reply_to: Option<i64>,
}

#[derive(Args, Debug)]
pub struct ReactArgs {
    pub room: RoomId,
    /// The message's sequence number.
    pub seq: i64,
    pub emoji: String,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    pub room: RoomId,
    pub seq: i64,
    pub text: String,
}

#[derive(Args, Debug)]
pub struct SeqArgs {
    pub room: RoomId,
    pub seq: i64,
}

#[derive(Args, Debug)]
pub struct PostDocArgs {
    pub room: RoomId,
    pub document: DocumentId,
}

#[derive(Args, Debug)]
pub struct VoiceArgs {
    pub room: RoomId,
    /// The audio file (its type is recognised from its content).
    pub file: PathBuf,
    /// Its duration in seconds, if the format does not state it (WAV does).
    #[arg(long)]
    pub duration: Option<f64>,
}

#[derive(Args, Debug)]
pub struct VoiceGetArgs {
    pub room: RoomId,
    /// The voice note's sequence number.
    pub seq: i64,
    /// Output file (default `voice-ROOM-SEQ.EXT` in the current folder; `-` for stdout).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RoomArg {
    pub room: RoomId,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    pub room: RoomId,
    #[arg(long)]
    pub json: bool,
}

fn state_path(c: &Client) -> anyhow::Result<PathBuf> {
    Ok(profile::config_dir()?.join(format!("rooms-{}.age", c.id())))
}

/// This device's room state (empty the first time).
pub(crate) fn load(c: &Client) -> anyhow::Result<RoomKeys> {
    let path = state_path(c)?;
    match std::fs::read(&path) {
        Ok(sealed) => c
            .open_rooms(&sealed)
            .with_context(|| format!("cannot open {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RoomKeys::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub(crate) fn save(c: &Client, keys: &RoomKeys) -> anyhow::Result<()> {
    let path = state_path(c)?;
    medshare_server::write_secret_file(&path, &c.seal_rooms(keys)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Keep enough key packages at the hub for colleagues to add us.
pub(crate) async fn top_up(c: &Client, keys: &mut RoomKeys) -> anyhow::Result<()> {
    let have = c.key_packages_waiting().await?;
    if have < KEY_PACKAGES / 2 {
        c.publish_key_packages(keys, usize::try_from(KEY_PACKAGES - have)?)
            .await?;
    }
    Ok(())
}

async fn ids(c: &Client, handles: &[Handle]) -> anyhow::Result<Vec<PractitionerId>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(c.practitioner_by_handle(h).await?.cert.practitioner_id);
    }
    Ok(out)
}

pub async fn run(cmd: RoomCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let mut keys = load(&c)?;
    // Save whatever changed even if the command fails half-way (a merged commit must not be
    // forgotten).
    let r = run_with(&c, &mut keys, cmd).await;
    save(&c, &keys)?;
    r
}

async fn run_with(c: &Client, keys: &mut RoomKeys, cmd: RoomCmd) -> anyhow::Result<()> {
    top_up(c, keys).await?;
    match cmd {
        RoomCmd::Create(a) => {
            let room = c.create_room(keys, &a.title, a.patient_id).await?;
            save(c, keys)?;
            if !a.with.is_empty() {
                let who = ids(c, &a.with).await?;
                c.invite_to_room(keys, room, &who).await?;
            }
            say!("{room}");
        }
        RoomCmd::List(a) => {
            let rooms = c.list_rooms().await?;
            let mut rows = Vec::new();
            for r in &rooms {
                let local = keys.room(r.room_id);
                let read = r
                    .members
                    .iter()
                    .find(|m| m.practitioner_id == c.id())
                    .map_or(0, |m| m.read_seq);
                rows.push(serde_json::json!({
                    "room_id": r.room_id,
                    "title": local.and_then(|l| l.title.clone()),
                    "owner": r.owner,
                    "members": r.members.iter().filter(|m| m.until_seq.is_none()).count(),
                    "unread": (r.last_seq - read).max(0),
                    "joined_on_this_device": local.is_some(),
                }));
            }
            if a.json {
                say!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                say!("{:<36}  {:>7}  {:>6}  TITLE", "ROOM", "MEMBERS", "UNREAD");
                for r in &rows {
                    say!(
                        "{:<36}  {:>7}  {:>6}  {}",
                        r["room_id"].as_str().unwrap_or_default(),
                        r["members"],
                        r["unread"],
                        r["title"]
                            .as_str()
                            .unwrap_or("(not yet opened here: run `room history`)")
                    );
                }
            }
        }
        RoomCmd::Invite(a) => {
            let who = ids(c, &a.handles).await?;
            c.invite_to_room(keys, a.room, &who).await?;
            say!("added {} to {}", a.handles.len(), a.room);
        }
        RoomCmd::Remove(a) => {
            let who = ids(c, &a.handles).await?;
            c.remove_from_room(keys, a.room, &who).await?;
            say!("removed {} from {}", a.handles.len(), a.room);
        }
        RoomCmd::Send(a) => {
            let seq = c.send_text(keys, a.room, &a.text, a.reply_to).await?;
            say!("#{seq}");
        }
        RoomCmd::Read(a) => {
            c.sync_room(keys, a.room).await?;
            let cursor = keys.room(a.room).map_or(0, |l| l.cursor);
            c.mark_room_read(a.room, cursor).await?;
        }
        RoomCmd::History(a) => {
            c.sync_room(keys, a.room).await?;
            let local = keys
                .room(a.room)
                .ok_or_else(|| anyhow!("this device is not in that room"))?;
            let mut items = timeline(local);
            // A voice note's key opens it: `room voice-get` uses it, a script gets no copy.
            for i in &mut items {
                if let RoomEvent::Message {
                    content: Content::Voice { key, .. },
                } = &mut i.event
                {
                    key.clear();
                }
            }
            if a.json {
                say!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                if let Some(t) = &local.title {
                    say!("{t}");
                }
                for i in &items {
                    print_item(c, a.room, i).await;
                }
            }
        }
        RoomCmd::Follow(a) => {
            for m in c.sync_room(keys, a.room).await? {
                print_message(c, a.room, &m).await;
            }
            save(c, keys)?;
            let mut last = c.inbox(0).await?.last().map_or(0, |e| e.seq);
            loop {
                let mut s = Box::pin(c.follow(last).await?);
                while let Some(e) = s.next().await {
                    let e = e?;
                    last = e.seq;
                    if matches!(e.event, EventKind::RoomActivity { room_id, .. } if room_id == a.room)
                    {
                        for m in c.sync_room(keys, a.room).await? {
                            print_message(c, a.room, &m).await;
                        }
                        save(c, keys)?;
                    }
                }
                warn_user!("the event stream dropped; reconnecting");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        RoomCmd::React(a) => {
            say!("#{}", c.react(keys, a.room, a.seq, &a.emoji).await?);
        }
        RoomCmd::Edit(a) => {
            say!("#{}", c.edit_message(keys, a.room, a.seq, &a.text).await?);
        }
        RoomCmd::Delete(a) => {
            say!("#{}", c.delete_message(keys, a.room, a.seq).await?);
        }
        RoomCmd::PostDoc(a) => {
            say!("#{}", c.post_document(keys, a.room, a.document).await?);
        }
        RoomCmd::Voice(a) => {
            let limit = medshare_client::voice::MAX_VOICE_BYTES as u64;
            let size = std::fs::metadata(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?
                .len();
            if size > limit {
                anyhow::bail!(
                    "{} is {} MiB: a voice note holds at most {} MiB",
                    a.file.display(),
                    size.div_ceil(1 << 20),
                    limit >> 20
                );
            }
            let audio = zeroize::Zeroizing::new(
                std::fs::read(&a.file)
                    .with_context(|| format!("cannot read {}", a.file.display()))?,
            );
            let duration_ms = match a.duration {
                Some(d) if d.is_finite() && d > 0.0 => Some((d * 1000.0).round() as u64),
                Some(_) => anyhow::bail!("--duration is a positive number of seconds"),
                None => None,
            };
            say!(
                "#{}",
                c.post_voice(keys, a.room, &audio, duration_ms).await?
            );
        }
        RoomCmd::VoiceGet(a) => {
            c.sync_room(keys, a.room).await?;
            let v = c.open_voice(keys, a.room, a.seq).await?;
            let out = a.out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "voice-{}-{}.{}",
                    a.room,
                    a.seq,
                    extension(&v.media_type)
                ))
            });
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&v.audio)?;
                return Ok(());
            }
            if out.exists() {
                anyhow::bail!("{} already exists", out.display());
            }
            medshare_server::write_secret_file(&out, &v.audio)
                .with_context(|| format!("cannot write {}", out.display()))?;
            say!(
                "{} ({}) saved to {}",
                describe_voice(v.media_type.as_str(), v.duration_ms),
                v.media_type,
                out.display()
            );
        }
        RoomCmd::UpdateKeys(a) => {
            c.update_keys(keys, a.room).await?;
            say!("keys renewed in {}", a.room);
        }
    }
    Ok(())
}

async fn print_item(c: &Client, room: RoomId, i: &TimelineItem) {
    let m = RoomMessage {
        seq: i.seq,
        sender: i.sender,
        at: i.at,
        event: i.event.clone(),
    };
    if i.deleted {
        say!(
            "#{:<5} {}: (message deleted)",
            i.seq,
            super::records::who(c, i.sender).await
        );
        return;
    }
    print_message(c, room, &m).await;
    if i.edited {
        say!("       (edited)");
    }
    for (who, emoji) in &i.reactions {
        say!("       {emoji} {}", super::records::who(c, *who).await);
    }
}

async fn print_message(c: &Client, room: RoomId, m: &RoomMessage) {
    let at =
        m.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let who = super::records::who(c, m.sender).await;
    let what = match &m.event {
        RoomEvent::Message { content } => match content {
            Content::Text { text, reply_to } => match reply_to {
                Some(r) => format!("(re #{r}) {text}"),
                None => text.clone(),
            },
            Content::Info { title, .. } => format!("set the title: {title}"),
            Content::Reaction { to, emoji } => format!("reacted {emoji} to #{to}"),
            Content::Edit { of, text } => format!("edited #{of}: {text}"),
            Content::Delete { of } => format!("deleted #{of}"),
            Content::Document { document_id, title } => {
                format!("posted a document: {title} (`medshare get {document_id}`)")
            }
            Content::Voice {
                media_type,
                duration_ms,
                ..
            } => format!(
                "{}, {media_type} (`medshare room voice-get {} {}`)",
                describe_voice(media_type, *duration_ms),
                room,
                m.seq
            ),
        },
        RoomEvent::Joined { members } => format!("you joined ({} members)", members.len()),
        RoomEvent::Added { members } => format!("added {} member(s)", members.len()),
        RoomEvent::Removed { members } => format!("removed {} member(s)", members.len()),
        RoomEvent::KeysUpdated => "renewed their keys".into(),
        RoomEvent::YouWereRemoved => "removed you from the room".into(),
    };
    say!("#{:<5} {at}  {who}: {what}", m.seq);
}

fn describe_voice(_media_type: &str, duration_ms: Option<u64>) -> String {
    match duration_ms {
        Some(ms) => format!("voice note {}:{:02}", ms / 60_000, (ms / 1000) % 60),
        None => "voice note".into(),
    }
}

/// A file extension for a voice note's media type.
fn extension(media_type: &str) -> &'static str {
    match media_type {
        "audio/webm" => "webm",
        "audio/ogg" => "ogg",
        "audio/mp4" => "m4a",
        "audio/mpeg" => "mp3",
        "audio/wav" => "wav",
        "audio/aac" => "aac",
        "audio/flac" => "flac",
        _ => "audio",
    }
}
