//! `medshare room ...` against a real `medshare serve`, three practitioners of two institutions
//! each with their own config folder: create with members, send, reply, history, list with
//! unread counts and titles, remove (the removed member's history stops at the removal), and
//! the sealed 0600 state file that holds no plaintext.

mod common;

use common::{Cli, start_hub};
use medshare_sandbox::{World, story_cast};

/// A real PCM WAV file: `ms` milliseconds of a tone, 8 kHz mono 16-bit.
fn wav(ms: u32) -> Vec<u8> {
    let rate = 8000u32;
    let mut data = Vec::new();
    for i in 0..rate * ms / 1000 {
        let s = ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 9000.0) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), rate, rate * 2, 2 | (16 << 16)] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    w
}

fn texts(history_json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(history_json).expect("history is JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .filter(|m| m["event"]["content"]["type"] == "text" && m["deleted"] == false)
        .map(|m| m["event"]["content"]["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut hub, url) = start_hub(&dir.path().join("hub"));
    let token = std::fs::read_to_string(dir.path().join("hub").join("bootstrap-token"))?;
    let world = World::build_at(&url, &token, &story_cast()).await?;
    let root = dir.path().join("cli");
    let chan = Cli::login(&world, &url, &root, "dr.chan")?;
    let wong = Cli::login(&world, &url, &root, "dr.wong")?;
    let lam = Cli::login(&world, &url, &root, "dt.lam")?;
    // Any room command publishes key packages, so colleagues can add you.
    assert!(wong.ok(&["room", "list"]).contains("ROOM"));
    lam.ok(&["room", "list", "--json"]);

    let room = chan
        .ok(&[
            "room",
            "create",
            "--title",
            "Mrs L: diabetic foot",
            "--with",
            "dr.wong",
            "--with",
            "dt.lam",
        ])
        .trim()
        .to_string();
    chan.ok(&["room", "send", &room, "HbA1c 9.8%, ulcer on the left heel"]);
    let h = wong.ok(&["room", "history", &room, "--json"]);
    assert_eq!(texts(&h), vec!["HbA1c 9.8%, ulcer on the left heel"]);
    let seq = wong.ok(&[
        "room",
        "send",
        &room,
        "Offload and start basal insulin",
        "--reply-to",
        "4",
    ]);
    assert!(seq.trim().starts_with('#'), "{seq}");
    let list: serde_json::Value = serde_json::from_str(&chan.ok(&["room", "list", "--json"]))?;
    assert_eq!(list[0]["title"], "Mrs L: diabetic foot");
    assert_eq!(list[0]["members"], 3);
    assert!(list[0]["unread"].as_i64().unwrap() > 0);
    chan.ok(&["room", "read", &room]);
    let list: serde_json::Value = serde_json::from_str(&chan.ok(&["room", "list", "--json"]))?;
    assert_eq!(list[0]["unread"], 0);
    // A reaction, an edit and a deletion, shown as such.
    lam.ok(&["room", "react", &room, "5", "👍"]);
    wong.ok(&[
        "room",
        "edit",
        &room,
        "5",
        "Offload and start basal insulin 10 units",
    ]);
    let typo = chan.ok(&["room", "send", &room, "sorry, wrong room"]);
    let typo = typo.trim().trim_start_matches('#').to_string();
    chan.ok(&["room", "delete", &room, &typo]);
    // Nobody changes someone else's message.
    assert!(
        !lam.run(&["room", "edit", &room, "5", "forged"])
            .status
            .success()
    );
    let h = lam.ok(&["room", "history", &room, "--json"]);
    assert_eq!(
        texts(&h),
        vec![
            "HbA1c 9.8%, ulcer on the left heel",
            "Offload and start basal insulin 10 units"
        ]
    );
    let v: serde_json::Value = serde_json::from_str(&h)?;
    let reply = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == 5)
        .unwrap();
    assert_eq!(reply["edited"], true);
    assert_eq!(reply["reactions"][0][1], "👍");
    let table = lam.ok(&["room", "history", &room]);
    assert!(table.contains("(message deleted)"), "{table}");
    assert!(!table.contains("wrong room"), "{table}");
    assert!(
        table.contains("Offload and start basal insulin 10 units"),
        "{table}"
    );
    assert!(table.contains("(edited)"), "{table}");
    assert!(table.contains("Mrs L: diabetic foot"), "{table}");

    // A voice note from a file: recognised by content, opened byte-identical by a member,
    // saved 0600; its key never printed.
    let note = dir.path().join("note.bin");
    let audio = wav(700);
    std::fs::write(&note, &audio)?;
    let voice = wong.ok(&["room", "voice", &room, note.to_str().unwrap()]);
    let voice = voice.trim().trim_start_matches('#').to_string();
    let fake = dir.path().join("fake.ogg");
    std::fs::write(&fake, b"%PDF-1.4 a report, not audio")?;
    let out = wong.run(&["room", "voice", &room, fake.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not audio"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = lam.ok(&["room", "history", &room]);
    assert!(table.contains("voice note 0:00, audio/wav"), "{table}");
    assert!(
        table.contains(&format!("room voice-get {room} {voice}")),
        "{table}"
    );
    let h = lam.ok(&["room", "history", &room, "--json"]);
    assert!(!h.contains("AGE-SECRET-KEY"), "{h}");
    let saved = dir.path().join("heard.wav");
    lam.ok(&[
        "room",
        "voice-get",
        &room,
        &voice,
        "--out",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&saved)?, audio);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&saved)?.permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !lam.run(&[
            "room",
            "voice-get",
            &room,
            &voice,
            "--out",
            saved.to_str().unwrap()
        ])
        .status
        .success(),
        "never overwrites"
    );

    chan.ok(&["room", "remove", &room, "dt.lam"]);
    chan.ok(&["room", "send", &room, "after removal: amputation booked"]);
    let late = chan.ok(&["room", "voice", &room, note.to_str().unwrap()]);
    let late = late.trim().trim_start_matches('#').to_string();
    let out = lam.run(&["room", "voice-get", &room, &late, "--out", "-"]);
    assert!(!out.status.success() && out.stdout.is_empty());
    let heard = wong.run(&["room", "voice-get", &room, &late, "--out", "-"]);
    assert!(heard.status.success());
    assert_eq!(heard.stdout, audio);
    let h = lam.ok(&["room", "history", &room, "--json"]);
    assert!(!h.contains("amputation"), "{h}");
    assert!(h.contains("you-were-removed"), "{h}");
    let out = lam.run(&["room", "send", &room, "hello?"]);
    assert!(!out.status.success());
    assert!(
        wong.ok(&["room", "history", &room])
            .contains("amputation booked")
    );

    // The device state is sealed and private.
    let state = std::fs::read_dir(&chan.config)?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("rooms-"))
        .expect("room state file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(state.metadata()?.permissions().mode() & 0o777, 0o600);
    }
    let bytes = std::fs::read(state.path())?;
    assert!(!String::from_utf8_lossy(&bytes).contains("amputation"));
    assert!(!String::from_utf8_lossy(&bytes).contains("diabetic"));
    hub.kill()?;
    Ok(())
}
