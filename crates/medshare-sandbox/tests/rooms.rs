//! Case rooms with MLS, real hub and real clients on both backends: a room across three
//! institutions (text, a reply, read positions), removal (the removed member's client cannot
//! decrypt what follows even when handed every ciphertext), bad input (unknown room,
//! non-member, oversized message, stale or replayed commit, non-owner adding) answered with a
//! clear 4xx that changes nothing, and a malicious hub (a substituted key package, another
//! room's message, a replayed commit) refused by the client.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use medshare_client::rooms::{Content, RoomEvent};
use medshare_client::{Client, ClientError, RoomKeys};
use medshare_hostile::{HostileHub, Method};
use medshare_model::api::{RoomEntry, RoomEntryKind};
use medshare_model::{PractitionerId, RoomId};
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use serde_json::json;

fn texts(keys: &RoomKeys, room: RoomId) -> Vec<(PractitionerId, String)> {
    keys.room(room)
        .map(|r| {
            r.history
                .iter()
                .filter_map(|m| match &m.event {
                    RoomEvent::Message {
                        content: Content::Text { text, .. },
                    } => Some((m.sender, text.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

struct Member {
    client: Client,
    keys: RoomKeys,
}

async fn member(world: &World, handle: &str) -> anyhow::Result<Member> {
    let client = world.login(handle).await?;
    let mut keys = RoomKeys::new();
    client.publish_key_packages(&mut keys, 3).await?;
    Ok(Member { client, keys })
}

async fn raw_post(c: &Client, url: &str, body: serde_json::Value) -> anyhow::Result<u16> {
    let token = c.save().token.clone();
    Ok(http()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn raw_get(c: &Client, url: &str) -> anyhow::Result<u16> {
    let token = c.save().token.clone();
    Ok(http()
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn room_story(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    // Family doctor (clinic), cardiologist (private hospital), emergency physician (public).
    let mut chan = member(&world, "dr.chan").await?;
    let mut wong = member(&world, "dr.wong").await?;
    let mut ho = member(&world, "dr.ho").await?;
    let leung = member(&world, "dr.leung").await?;
    let (chan_id, wong_id, ho_id) = (world.id("dr.chan"), world.id("dr.wong"), world.id("dr.ho"));

    let room = chan
        .client
        .create_room(&mut chan.keys, "Mr C: chest pain, raised troponin", None)
        .await?;
    chan.client
        .invite_to_room(&mut chan.keys, room, &[wong_id, ho_id])
        .await?;
    chan.client
        .send_text(&mut chan.keys, room, "Echo shows EF 35%, views?", None)
        .await?;

    let new = wong.client.sync_room(&mut wong.keys, room).await?;
    assert!(matches!(&new[0].event, RoomEvent::Joined { members } if members.len() == 3));
    let local = wong.keys.room(room).expect("joined");
    assert_eq!(
        local.title.as_deref(),
        Some("Mr C: chest pain, raised troponin"),
        "the owner re-sends the sealed title to the members it adds"
    );
    assert_eq!(
        texts(&wong.keys, room),
        vec![(chan_id, "Echo shows EF 35%, views?".to_string())]
    );
    let asked = wong.keys.room(room).unwrap().history.last().unwrap().seq;
    wong.client
        .send_text(
            &mut wong.keys,
            room,
            "Start an ACE inhibitor; angiogram Monday",
            Some(asked),
        )
        .await?;
    wong.client
        .mark_room_read(room, wong.keys.room(room).unwrap().cursor)
        .await?;
    ho.client.sync_room(&mut ho.keys, room).await?;
    assert_eq!(texts(&ho.keys, room).len(), 2);
    chan.client.sync_room(&mut chan.keys, room).await?;
    assert_eq!(
        texts(&chan.keys, room).last().unwrap(),
        &(
            wong_id,
            "Start an ACE inhibitor; angiogram Monday".to_string()
        )
    );
    // A posted document: shared with every member through grants, opened by wong.
    let (_, hkid) = random_hkid();
    let patient = chan
        .client
        .ensure_patient(&hkid, &medshare_model::records::PatientCard::default())
        .await?;
    let doc = chan
        .client
        .upload(
            std::io::Cursor::new(b"%PDF-1.4 echocardiogram report".to_vec()),
            &patient,
            meta("Echocardiogram", "echo.pdf"),
            &[],
            |_| {},
        )
        .await?;
    chan.client
        .post_document(&mut chan.keys, room, doc.document_id)
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;
    let posted = wong
        .keys
        .room(room)
        .unwrap()
        .history
        .last()
        .unwrap()
        .clone();
    let RoomEvent::Message {
        content: Content::Document { document_id, title },
    } = posted.event
    else {
        panic!("expected a posted document, got {posted:?}");
    };
    assert_eq!(
        (document_id, title.as_str()),
        (doc.document_id, "Echocardiogram")
    );
    let opened = wong.client.open_document(document_id).await?;
    assert_eq!(
        download_vec(&wong.client, &opened).await?,
        b"%PDF-1.4 echocardiogram report"
    );
    // A reaction, an edit and a deletion read as such.
    chan.client
        .react(&mut chan.keys, room, posted.seq, "👍")
        .await?;
    wong.client
        .edit_message(
            &mut wong.keys,
            room,
            asked + 1,
            "Start an ACE inhibitor; angiogram Tuesday",
        )
        .await?;
    assert!(
        chan.client
            .edit_message(&mut chan.keys, room, asked + 1, "forged")
            .await
            .is_err()
    );
    chan.client.sync_room(&mut chan.keys, room).await?;
    let lines = medshare_client::rooms::timeline(chan.keys.room(room).unwrap());
    let reply = lines.iter().find(|i| i.seq == asked + 1).unwrap();
    assert!(reply.edited);
    assert!(
        matches!(&reply.event, RoomEvent::Message { content: Content::Text { text, .. } } if text.ends_with("Tuesday"))
    );
    let post = lines.iter().find(|i| i.seq == posted.seq).unwrap();
    assert_eq!(post.reactions, vec![(chan_id, "👍".to_string())]);

    let view = chan.client.room_view(room).await?;
    let w = view
        .members
        .iter()
        .find(|m| m.practitioner_id == wong_id)
        .unwrap();
    assert!(w.read_seq > 0, "wong's read position is visible");

    // The room state survives being sealed and reopened (what the CLI keeps on disk).
    let sealed = chan.client.seal_rooms(&chan.keys)?;
    assert!(!String::from_utf8_lossy(&sealed).contains("EF 35%"));
    chan.keys = chan.client.open_rooms(&sealed)?;
    assert_eq!(texts(&chan.keys, room).len(), 2);

    // --- Removal ------------------------------------------------------------------------
    // Dr Ho keeps a copy of his state from before the removal (a malicious ex-member).
    let ho_before = ho.client.seal_rooms(&ho.keys)?;
    chan.client
        .remove_from_room(&mut chan.keys, room, &[ho_id])
        .await?;
    let secret = "after removal: biopsy confirms amyloid";
    chan.client
        .send_text(&mut chan.keys, room, secret, None)
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;
    assert_eq!(texts(&wong.keys, room).last().unwrap().1, secret);
    // Ho's client learns of the removal and the hub serves him nothing after it.
    let new = ho.client.sync_room(&mut ho.keys, room).await?;
    assert!(matches!(
        new.last().unwrap().event,
        RoomEvent::YouWereRemoved
    ));
    assert!(!texts(&ho.keys, room).iter().any(|(_, t)| t == secret));
    let err = ho
        .client
        .send_text(&mut ho.keys, room, "still here?", None)
        .await;
    assert!(err.is_err());
    // Hand the removed client every ciphertext of the room (the hub's full cooperation), from
    // its state before the removal: nothing after the removal opens.
    let all: Vec<RoomEntry> = wong.client.room_entries(room, 0).await?;
    let removal = all
        .iter()
        .find(|e| e.kind == RoomEntryKind::Commit && e.seq > asked + 1)
        .expect("the removal commit")
        .clone();
    let after: Vec<RoomEntry> = all
        .iter()
        .filter(|e| e.seq > removal.seq)
        .cloned()
        .collect();
    assert!(!after.is_empty());
    for e in &after {
        // Skipping the removal commit (old epoch's keys), and processing it first.
        for with_commit in [false, true] {
            let mut stolen = ho.client.open_rooms(&ho_before)?;
            let mut feed = Vec::new();
            if with_commit {
                feed.push(removal.clone());
            }
            feed.push(e.clone());
            let got = ho.client.apply_entries(&mut stolen, room, feed).await;
            assert!(
                got.is_err(),
                "a message after removal opened for the removed member"
            );
            assert!(!texts(&stolen, room).iter().any(|(_, t)| t == secret));
        }
    }
    // The hub never saw the text.
    for e in &all {
        let body = B64.decode(&e.body)?;
        assert!(!String::from_utf8_lossy(&body).contains("amyloid"));
    }

    // Added again, Dr Ho sees the room from his new welcome on, never what was sent while he
    // was out, and keeps what he read before.
    chan.client
        .invite_to_room(&mut chan.keys, room, &[ho_id])
        .await?;
    chan.client
        .send_text(&mut chan.keys, room, "welcome back", None)
        .await?;
    let new = ho.client.sync_room(&mut ho.keys, room).await?;
    assert!(matches!(new[0].event, RoomEvent::Joined { .. }), "{new:?}");
    let seen = texts(&ho.keys, room);
    assert_eq!(seen.last().unwrap().1, "welcome back");
    assert!(seen.iter().any(|(_, t)| t == "Echo shows EF 35%, views?"));
    assert!(!seen.iter().any(|(_, t)| t == secret));
    chan.client
        .remove_from_room(&mut chan.keys, room, &[ho_id])
        .await?;
    ho.client.sync_room(&mut ho.keys, room).await?;

    // --- Bad input: a clear 4xx, nothing changes --------------------------------------------
    let before = chan.client.room_view(room).await?;
    let base = &world.hub_url;
    let unknown = RoomId::new();
    assert_eq!(
        raw_get(&chan.client, &format!("{base}/v1/rooms/{unknown}/entries")).await?,
        404
    );
    assert_eq!(
        raw_post(
            &chan.client,
            &format!("{base}/v1/rooms/{unknown}/messages"),
            json!({"epoch": 0, "kind": "text", "body": "AAAA"})
        )
        .await?,
        404
    );
    // A non-member reads or posts.
    assert_eq!(
        raw_get(&leung.client, &format!("{base}/v1/rooms/{room}/entries")).await?,
        403
    );
    assert_eq!(
        raw_post(
            &leung.client,
            &format!("{base}/v1/rooms/{room}/messages"),
            json!({"epoch": before.epoch, "kind": "text", "body": "AAAA"})
        )
        .await?,
        403
    );
    // The removed member posts.
    assert_eq!(
        raw_post(
            &ho.client,
            &format!("{base}/v1/rooms/{room}/messages"),
            json!({"epoch": before.epoch, "kind": "text", "body": "AAAA"})
        )
        .await?,
        403
    );
    // An oversized message.
    let big = B64.encode(vec![7u8; 70 * 1024]);
    assert_eq!(
        raw_post(
            &chan.client,
            &format!("{base}/v1/rooms/{room}/messages"),
            json!({"epoch": before.epoch, "kind": "text", "body": big})
        )
        .await?,
        413
    );
    // The removal commit replayed for its own (now stale) epoch, and a message for an old epoch.
    assert_eq!(
        raw_post(
            &chan.client,
            &format!("{base}/v1/rooms/{room}/commits"),
            json!({"epoch": removal.epoch, "commit": removal.body, "removed": []})
        )
        .await?,
        409
    );
    assert_eq!(
        raw_post(
            &chan.client,
            &format!("{base}/v1/rooms/{room}/messages"),
            json!({"epoch": removal.epoch, "kind": "text", "body": "AAAA"})
        )
        .await?,
        409
    );
    // A member who is not the owner adds someone.
    assert_eq!(
        raw_post(
            &wong.client,
            &format!("{base}/v1/rooms/{room}/commits"),
            json!({"epoch": before.epoch, "commit": "AAAA", "welcome": "AAAA",
                   "added": [world.id("dr.leung")]})
        )
        .await?,
        403
    );
    let after_view = chan.client.room_view(room).await?;
    assert_eq!(
        (after_view.epoch, after_view.last_seq),
        (before.epoch, before.last_seq)
    );
    assert_eq!(after_view.members, before.members);

    // A member renews their keys (post-compromise security) and the room goes on.
    wong.client.update_keys(&mut wong.keys, room).await?;
    chan.client
        .send_text(&mut chan.keys, room, "after wong's update", None)
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;
    assert_eq!(
        texts(&wong.keys, room).last().unwrap().1,
        "after wong's update"
    );
    hub.stop().await?;
    // No title, message or document title in clear in anything the hub wrote (database, WAL,
    // blobs, logs).
    let markers = [
        "troponin",
        "EF 35%",
        "amyloid",
        "ACE inhibitor",
        "Echocardiogram",
    ];
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for f in std::fs::read_dir(&d)? {
            let f = f?.path();
            if f.is_dir() {
                stack.push(f);
            } else {
                // A file may go as the stopped hub's connections close (SQLite's -shm).
                let Ok(raw) = std::fs::read(&f) else { continue };
                let bytes = String::from_utf8_lossy(&raw).into_owned();
                for m in markers {
                    assert!(!bytes.contains(m), "{m} in {}", f.display());
                }
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_across_three_institutions_sqlite() -> anyhow::Result<()> {
    room_story(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_across_three_institutions_postgres() -> anyhow::Result<()> {
    room_story(Backend::PostgresS3).await
}

/// A real PCM WAV file: `ms` milliseconds of a tone, 8 kHz mono 16-bit, with an INFO comment
/// (`marker`) so a scan can tell whether the audio reached anything the hub wrote.
fn wav(ms: u32, marker: &str) -> Vec<u8> {
    let rate = 8000u32;
    let mut data = Vec::new();
    for i in 0..rate * ms / 1000 {
        let s = ((i as f32 * 523.0 * std::f32::consts::TAU / rate as f32).sin() * 9000.0) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut info = b"INFOICMT".to_vec();
    let mut text = marker.as_bytes().to_vec();
    text.push(0);
    if text.len() % 2 == 1 {
        text.push(0);
    }
    info.extend_from_slice(&(text.len() as u32).to_le_bytes());
    info.extend_from_slice(&text);
    let mut chunks = Vec::new();
    chunks.extend_from_slice(b"fmt ");
    chunks.extend_from_slice(&16u32.to_le_bytes());
    chunks.extend_from_slice(&1u16.to_le_bytes());
    chunks.extend_from_slice(&1u16.to_le_bytes());
    chunks.extend_from_slice(&rate.to_le_bytes());
    chunks.extend_from_slice(&(rate * 2).to_le_bytes());
    chunks.extend_from_slice(&2u16.to_le_bytes());
    chunks.extend_from_slice(&16u16.to_le_bytes());
    chunks.extend_from_slice(b"LIST");
    chunks.extend_from_slice(&(info.len() as u32).to_le_bytes());
    chunks.extend_from_slice(&info);
    chunks.extend_from_slice(b"data");
    chunks.extend_from_slice(&(data.len() as u32).to_le_bytes());
    chunks.extend_from_slice(&data);
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVE");
    w.extend_from_slice(&chunks);
    w
}

fn voice_notes(keys: &RoomKeys, room: RoomId) -> Vec<(i64, Content)> {
    keys.room(room)
        .map(|r| {
            r.history
                .iter()
                .filter_map(|m| match &m.event {
                    RoomEvent::Message {
                        content: c @ Content::Voice { .. },
                    } => Some((m.seq, c.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Voice notes: sealed audio stored as a room attachment, its key inside the MLS message. A
/// member opens it byte-identical; a non-member and a removed member get nothing from the hub,
/// and a removed member handed every ciphertext (log and attachments) still opens nothing sent
/// after the removal.
async fn voice_story(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let mut chan = member(&world, "dr.chan").await?;
    let mut wong = member(&world, "dr.wong").await?;
    let mut ho = member(&world, "dr.ho").await?;
    let leung = member(&world, "dr.leung").await?;
    let (wong_id, ho_id) = (world.id("dr.wong"), world.id("dr.ho"));
    let room = chan
        .client
        .create_room(&mut chan.keys, "Ward round", None)
        .await?;
    chan.client
        .invite_to_room(&mut chan.keys, room, &[wong_id, ho_id])
        .await?;

    let first = wav(1200, "VOICEMARK-before-removal");
    let seq = chan
        .client
        .post_voice(&mut chan.keys, room, &first, None)
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;
    ho.client.sync_room(&mut ho.keys, room).await?;
    let notes = voice_notes(&wong.keys, room);
    assert_eq!(notes.len(), 1);
    let (
        got_seq,
        Content::Voice {
            media_type,
            duration_ms,
            blob_id: first_blob,
            ..
        },
    ) = &notes[0]
    else {
        unreachable!()
    };
    assert_eq!(*got_seq, seq);
    assert_eq!(
        (media_type.as_str(), *duration_ms),
        ("audio/wav", Some(1200))
    );
    let opened = wong.client.open_voice(&wong.keys, room, seq).await?;
    assert_eq!(
        *opened.audio, first,
        "a member opens the note byte-identical"
    );
    assert_eq!(opened.media_type, "audio/wav");
    // Its sender can play it back too, and after sealing and reopening the room state.
    let sealed = chan.client.seal_rooms(&chan.keys)?;
    chan.keys = chan.client.open_rooms(&sealed)?;
    assert_eq!(
        *chan.client.open_voice(&chan.keys, room, seq).await?.audio,
        first
    );

    // Bad input: not audio, too large, unknown room, non-member.
    let not_audio = chan
        .client
        .post_voice(&mut chan.keys, room, b"%PDF-1.4 not a voice note", None)
        .await;
    assert!(
        matches!(not_audio, Err(ClientError::Invalid(_))),
        "{not_audio:?}"
    );
    let mut huge = wav(10, "x");
    huge.resize(medshare_client::voice::MAX_VOICE_BYTES + 1, 0);
    let too_big = chan
        .client
        .post_voice(&mut chan.keys, room, &huge, None)
        .await;
    assert!(
        matches!(too_big, Err(ClientError::Invalid(_))),
        "{too_big:?}"
    );
    let base = &world.hub_url;
    let put = |c: &Client, url: String, body: Vec<u8>| {
        let token = c.save().token.clone();
        async move {
            anyhow::Ok(
                http()
                    .post(url)
                    .bearer_auth(token)
                    .body(body)
                    .send()
                    .await?
                    .status()
                    .as_u16(),
            )
        }
    };
    assert_eq!(
        put(
            &chan.client,
            format!("{base}/v1/rooms/{room}/blobs"),
            vec![0u8; 18 << 20]
        )
        .await?,
        413,
        "the hub bounds an attachment"
    );
    let unknown = RoomId::new();
    assert_eq!(
        put(
            &chan.client,
            format!("{base}/v1/rooms/{unknown}/blobs"),
            vec![1, 2, 3]
        )
        .await?,
        404
    );
    assert_eq!(
        put(
            &leung.client,
            format!("{base}/v1/rooms/{room}/blobs"),
            vec![1, 2, 3]
        )
        .await?,
        403
    );
    let blob_url = format!("{base}/v1/rooms/{room}/blobs/{first_blob}");
    assert_eq!(raw_get(&leung.client, &blob_url).await?, 403);
    assert_eq!(
        raw_get(
            &chan.client,
            &format!("{base}/v1/rooms/{room}/blobs/{}", RoomId::new())
        )
        .await?,
        404
    );
    // An attachment is served only under its own room.
    let other = chan
        .client
        .create_room(&mut chan.keys, "Other", None)
        .await?;
    assert_eq!(
        raw_get(
            &chan.client,
            &format!("{base}/v1/rooms/{other}/blobs/{first_blob}")
        )
        .await?,
        404
    );

    // --- Removal: Dr Ho keeps his state from before it ---------------------------------------
    let ho_before = ho.client.seal_rooms(&ho.keys)?;
    chan.client
        .remove_from_room(&mut chan.keys, room, &[ho_id])
        .await?;
    let second = wav(800, "VOICEMARK-after-removal");
    let after_seq = chan
        .client
        .post_voice(&mut chan.keys, room, &second, Some(800))
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;
    assert_eq!(
        *wong
            .client
            .open_voice(&wong.keys, room, after_seq)
            .await?
            .audio,
        second
    );
    ho.client.sync_room(&mut ho.keys, room).await?;
    assert!(
        voice_notes(&ho.keys, room)
            .iter()
            .all(|(s, _)| *s != after_seq)
    );
    assert!(
        ho.client
            .open_voice(&ho.keys, room, after_seq)
            .await
            .is_err()
    );
    let Some((
        _,
        Content::Voice {
            blob_id: second_blob,
            ..
        },
    )) = voice_notes(&wong.keys, room)
        .into_iter()
        .find(|(s, _)| *s == after_seq)
    else {
        panic!("wong has the second note")
    };
    // The hub serves the removed member no attachment any more, old or new.
    assert_eq!(raw_get(&ho.client, &blob_url).await?, 403);
    assert_eq!(
        raw_get(
            &ho.client,
            &format!("{base}/v1/rooms/{room}/blobs/{second_blob}")
        )
        .await?,
        403
    );
    // Hand him everything anyway (the hub's full cooperation): every log entry after the
    // removal and the note's ciphertext. Nothing opens: the message does not decrypt, and no
    // key he ever held opens the audio.
    let all: Vec<RoomEntry> = wong.client.room_entries(room, 0).await?;
    let stolen_cipher = wong.client.fetch_voice(room, second_blob).await?;
    let removal = all
        .iter()
        .rfind(|e| e.kind == RoomEntryKind::Commit && e.seq < after_seq)
        .expect("the removal commit")
        .clone();
    for e in all.iter().filter(|e| e.seq > removal.seq) {
        for with_commit in [false, true] {
            let mut stolen = ho.client.open_rooms(&ho_before)?;
            let mut feed = Vec::new();
            if with_commit {
                feed.push(removal.clone());
            }
            feed.push(e.clone());
            assert!(
                ho.client
                    .apply_entries(&mut stolen, room, feed)
                    .await
                    .is_err()
            );
            assert!(
                voice_notes(&stolen, room)
                    .iter()
                    .all(|(s, _)| *s != after_seq)
            );
        }
    }
    let ho_keys = ho.client.open_rooms(&ho_before)?;
    for (_, c) in voice_notes(&ho_keys, room) {
        let Content::Voice { key, .. } = &c else {
            unreachable!()
        };
        assert!(medshare_client::voice::open_voice_bytes(&c, &stolen_cipher, key).is_err());
        assert!(
            medshare_crypto::EncryptionKey::from_secret_str(key)
                .ok()
                .and_then(|k| medshare_crypto::seal::open_bytes(&k, &stolen_cipher).ok())
                .is_none()
        );
    }
    // The hub saw neither the audio nor its key.
    for e in &all {
        let body = String::from_utf8_lossy(&B64.decode(&e.body)?).into_owned();
        assert!(!body.contains("AGE-SECRET-KEY") && !body.contains("VOICEMARK"));
    }
    hub.stop().await?;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for f in std::fs::read_dir(&d)? {
            let f = f?.path();
            if f.is_dir() {
                stack.push(f);
            } else {
                let Ok(raw) = std::fs::read(&f) else { continue };
                let bytes = String::from_utf8_lossy(&raw).into_owned();
                assert!(!bytes.contains("VOICEMARK"), "audio in {}", f.display());
                assert!(
                    !bytes.contains("AGE-SECRET-KEY"),
                    "a key in {}",
                    f.display()
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_notes_sqlite() -> anyhow::Result<()> {
    voice_story(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_notes_postgres() -> anyhow::Result<()> {
    voice_story(Backend::PostgresS3).await
}

fn trust_refusal(r: Result<impl std::fmt::Debug, ClientError>) {
    match r {
        Err(ClientError::Trust(_)) => {}
        other => panic!("expected a trust refusal, got {other:?}"),
    }
}

/// The hub lies: it serves another practitioner's (genuine) key package for the one invited,
/// another room's message inside this room's log, and an old commit again. Each is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_delivery_service_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(Backend::SqliteFolder.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let evil = HostileHub::start(&hub.url).await?;
    let chan_c = world.login_at(&evil.url, "dr.chan").await?;
    let mut chan = Member {
        client: chan_c,
        keys: RoomKeys::new(),
    };
    chan.client.publish_key_packages(&mut chan.keys, 2).await?;
    let mut wong = member(&world, "dr.wong").await?;
    let _leung = member(&world, "dr.leung").await?;
    let (wong_id, leung_id) = (world.id("dr.wong"), world.id("dr.leung"));

    // 1. A substituted member credential: inviting wong, the hub hands over leung's package.
    let room = chan
        .client
        .create_room(&mut chan.keys, "substitution", None)
        .await?;
    let leungs = {
        let token = chan.client.save().token.clone();
        http()
            .post(format!(
                "{}/v1/practitioners/{leung_id}/key-package",
                hub.url
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json::<serde_json::Value>()
            .await?["key_package"]
            .clone()
    };
    let rule = evil.rewrite_json(
        Method::POST,
        &format!("/v1/practitioners/{wong_id}/key-package"),
        move |v| v["key_package"] = leungs.clone(),
    );
    trust_refusal(
        chan.client
            .invite_to_room(&mut chan.keys, room, &[wong_id])
            .await,
    );
    assert_eq!(
        chan.client.room_view(room).await?.members.len(),
        1,
        "nobody was added"
    );
    evil.remove(rule);
    chan.client
        .invite_to_room(&mut chan.keys, room, &[wong_id])
        .await?;
    wong.client.sync_room(&mut wong.keys, room).await?;

    // 2. Another room's message served inside this room's log.
    let other = wong
        .client
        .create_room(&mut wong.keys, "elsewhere", None)
        .await?;
    let foreign = wong.client.room_entries(other, 0).await?;
    let foreign_body = foreign[0].body.clone();
    chan.client
        .send_text(&mut chan.keys, room, "to wong", None)
        .await?;
    let good = chan.keys.room(room).unwrap().clone();
    // Forge an entry after chan's cursor carrying the other room's ciphertext.
    let forged = json!({
        "room_id": room, "seq": good.cursor + 1, "kind": "text", "sender": wong_id,
        "epoch": 1, "at": "2026-11-29T00:00:00Z", "body": foreign_body
    });
    let rule = evil.rewrite_json(
        Method::GET,
        &format!("/v1/rooms/{room}/entries"),
        move |v| {
            v["entries"] = json!([forged.clone()]);
        },
    );
    trust_refusal(chan.client.sync_room(&mut chan.keys, room).await);
    assert!(
        texts(&chan.keys, room)
            .iter()
            .all(|(_, t)| t != "elsewhere")
    );
    evil.remove(rule);

    // 3. A replayed (stale-epoch) commit: the commit that added wong, served again as new.
    // Chan, the owner, reads the whole log from seq 0.
    let all = chan.client.room_entries(room, 0).await?;
    let commit = all
        .iter()
        .find(|e| e.kind == RoomEntryKind::Commit)
        .expect("the invitation commit")
        .clone();
    let cursor = chan.keys.room(room).unwrap().cursor;
    let mut replayed = serde_json::to_value(&commit)?;
    replayed["seq"] = json!(cursor + 1);
    let rule = evil.rewrite_json(
        Method::GET,
        &format!("/v1/rooms/{room}/entries"),
        move |v| {
            v["entries"] = json!([replayed.clone()]);
        },
    );
    trust_refusal(chan.client.sync_room(&mut chan.keys, room).await);
    evil.remove(rule);
    // A commit lands between a member's catch-up and their message (here: the hub is handed a
    // stale epoch once): the hub refuses it (409), the client catches up and sends it again.
    let once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = once.clone();
    let rule = evil.rewrite_request(
        Method::POST,
        &format!("/v1/rooms/{room}/messages"),
        move |x| {
            if flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let mut v = x.request_json();
                v["epoch"] = json!(0);
                x.request = serde_json::to_vec(&v).unwrap().into();
            }
        },
    );
    let seq = chan
        .client
        .send_text(&mut chan.keys, room, "sent twice, stored once", None)
        .await?;
    evil.remove(rule);
    assert!(
        !once.load(std::sync::atomic::Ordering::SeqCst),
        "the rule fired"
    );
    let statuses: Vec<u16> = evil
        .captured(&format!("/v1/rooms/{room}/messages"))
        .iter()
        .map(|x| x.status.as_u16())
        .collect();
    assert_eq!(&statuses[statuses.len() - 2..], &[409, 200], "{statuses:?}");
    let log = chan.client.room_entries(room, 0).await?;
    assert_eq!(log.last().map(|e| e.seq), Some(seq), "stored once, last");
    assert_eq!(log.iter().filter(|e| e.epoch == 0 && e.seq > 2).count(), 0);
    wong.client.sync_room(&mut wong.keys, room).await?;
    assert_eq!(
        texts(&wong.keys, room).last().unwrap().1,
        "sent twice, stored once"
    );

    // The honest log still works after the lies.
    wong.client
        .send_text(&mut wong.keys, room, "still fine", None)
        .await?;
    chan.client.sync_room(&mut chan.keys, room).await?;
    assert_eq!(texts(&chan.keys, room).last().unwrap().1, "still fine");
    hub.stop().await
}

/// A clinician cannot drain a colleague's waiting key packages: claims are limited per
/// (claimer, colleague) and per colleague, answered 429 with `Retry-After`, counted in the
/// database (every replica sees the same claims) and forgotten after the hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_package_claims_are_rate_limited() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Backend::SqliteFolder.config(dir.path());
    config.limits.key_package_claims_per_pair_hourly = 2;
    config.limits.key_package_claims_per_target_hourly = 3;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let wong = member(&world, "dr.wong").await?;
    let mut keys = wong.keys;
    wong.client.publish_key_packages(&mut keys, 7).await?;
    assert_eq!(wong.client.key_packages_waiting().await?, 10);
    let chan = world.login("dr.chan").await?;
    let ho = world.login("dr.ho").await?;
    let url = format!(
        "{}/v1/practitioners/{}/key-package",
        world.hub_url,
        world.id("dr.wong")
    );
    let claim = |c: &Client| {
        let token = c.save().token.clone();
        let url = url.clone();
        async move {
            let r = http().post(&url).bearer_auth(token).send().await?;
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            anyhow::Ok((r.status().as_u16(), retry))
        }
    };
    assert_eq!(claim(&chan).await?.0, 200);
    assert_eq!(claim(&chan).await?.0, 200);
    let (status, retry) = claim(&chan).await?;
    assert_eq!(
        status, 429,
        "a third claim of the same colleague by the same clinician"
    );
    assert!(retry.is_some_and(|s| (1..=3600).contains(&s)), "{retry:?}");
    assert_eq!(
        claim(&ho).await?.0,
        200,
        "another clinician may still invite"
    );
    assert_eq!(
        claim(&ho).await?.0,
        429,
        "the colleague's hourly total is reached"
    );
    // Refused claims took nothing.
    assert_eq!(wong.client.key_packages_waiting().await?, 7);
    hub.clock.advance(3601);
    assert_eq!(claim(&chan).await?.0, 200, "the window passed");
    assert_eq!(wong.client.key_packages_waiting().await?, 6);
    Ok(())
}
