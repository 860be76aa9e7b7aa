//! The gateway as operators run it: `medshare gateway enroll` and `run` as real processes in
//! front of a real `medshare serve`. Messages acknowledged while the hub is down survive a
//! kill -9 of the gateway, are filed when the hub returns, and a second kill -9 in the middle of
//! the uploads files nothing twice; `status` and `retry` see the queue.

mod common;

use common::{Running, start_hub};
use medshare_model::api::NewEnrolment;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::registration::{Profession, Role};
use medshare_sandbox::{World, story_cast};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn medshare() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medshare"))
}

/// `medshare gateway run`; returns the process and its HL7 address (printed on stderr).
fn start_gateway(config: &Path) -> (Running, SocketAddr) {
    let mut child = medshare()
        .args(["gateway", "run", "--config"])
        .arg(config)
        .env("MEDSHARE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medshare gateway run starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the gateway printed its address")
            .expect("text");
        if let Some(rest) = line.strip_prefix("medshare gateway: HL7/MLLP on ") {
            break rest.trim().parse().expect("an address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Running(child), addr)
}

fn status(config: &Path) -> serde_json::Value {
    let out = medshare()
        .args(["gateway", "status", "--json", "--config"])
        .arg(config)
        .output()
        .expect("status runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Send each message in its own frame on one connection; the MSA-1 codes.
async fn send(addr: SocketAddr, messages: &[Vec<u8>]) -> anyhow::Result<Vec<String>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut codes = Vec::new();
    for m in messages {
        let mut f = vec![0x0b];
        f.extend_from_slice(m);
        f.extend_from_slice(&[0x1c, 0x0d]);
        s.write_all(&f).await?;
        let mut buf = Vec::new();
        while !buf.ends_with(&[0x1c, 0x0d]) {
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut chunk)).await??;
            anyhow::ensure!(n > 0, "the gateway closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let msa = text
            .split('\r')
            .find(|l| l.starts_with("MSA|"))
            .and_then(|l| l.split('|').nth(1))
            .unwrap_or("")
            .to_string();
        codes.push(msa);
    }
    Ok(codes)
}

async fn wait_for(config: &Path, what: &str, done: i64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = status(config);
        if s["done"].as_i64().unwrap_or(0) >= done {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_a_hub_outage_lose_nothing_and_file_nothing_twice() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub_dir = dir.path().join("hub");
    let (hub, url) = start_hub(&hub_dir);
    let mut hub = Running(hub);
    let token = std::fs::read_to_string(hub_dir.join("bootstrap-token"))?;
    let world = World::build_at(&url, &token, &story_cast()).await?;

    // The administrator invites the gateway; the operator enrols it on "its machine".
    let admin = world.login("admin.kph").await?;
    let code = admin
        .invite(NewEnrolment {
            handle: "kph-lab-gw".parse().unwrap(),
            name: "KPH laboratory gateway".into(),
            profession: Profession::Service,
            registration: "SYS42".into(),
            specialty: None,
            roles: vec![Role::Clinician],
        })
        .await?;
    let key_file = dir.path().join("gateway.key");
    let out = medshare()
        .args([
            "gateway",
            "enroll",
            "--weak-kdf",
            "--hub",
            &url,
            "--code",
            &code.code,
        ])
        .arg("--key-file")
        .arg(&key_file)
        .env("MEDSHARE_CONFIG_DIR", dir.path().join("cli"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fingerprint = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Key fingerprint (read it to your institution administrator): ")
        })
        .expect("a fingerprint")
        .trim()
        .to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file)?.permissions().mode() & 0o777,
            0o600
        );
    }
    admin
        .certify(code.practitioner_id, Some(&fingerprint))
        .await?;

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[route]]\nname = \"to the ED\"\nshare_with = [\"dr.ho\"]\n",
    )?;
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "key_file = {:?}\ndata_dir = {:?}\nrules = {:?}\n\n[queue]\nmax_backoff_secs = 1\n\n\
             [hl7]\nlisten = \"127.0.0.1:0\"\nprocessing_ids = [\"P\", \"T\"]\n",
            key_file,
            dir.path().join("gateway-data"),
            rules
        ),
    )?;

    // The hub goes down; the gateway still takes results (durable in its queue).
    hub.kill()?;
    hub.wait()?;
    let p = medshare_synth::patients(77, 1).remove(0);
    let messages: Vec<Vec<u8>> = (0..30)
        .map(|i| medshare_synth::oru_r01(&p, time::macros::date!(2026 - 03 - 14), 1000 + i))
        .collect();
    let (mut gw, addr) = start_gateway(&config);
    let codes = send(addr, &messages[..20]).await?;
    assert!(codes.iter().all(|c| c == "AA"), "{codes:?}");
    // Killed between acknowledgement and upload.
    gw.kill()?;
    gw.wait()?;
    let s = status(&config);
    assert_eq!(
        s["ready"].as_i64().unwrap() + s["uploading"].as_i64().unwrap(),
        20,
        "{s}"
    );
    assert_eq!(s["done"], 0);

    // The hub returns on its address; a new gateway process files the backlog.
    let listen = url.trim_start_matches("http://").to_string();
    let mut hub = Running(
        Command::new(env!("CARGO_BIN_EXE_medshare"))
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(&hub_dir)
            .env("MEDSHARE_AUTH__MIN_KDF_M_COST", "8")
            .env("MEDSHARE_AUTH__AUTH_REQUESTS_PER_MINUTE", "6000")
            .env("MEDSHARE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let (mut gw, addr) = start_gateway(&config);
    let codes = send(addr, &messages[20..]).await?;
    assert!(codes.iter().all(|c| c == "AA"), "{codes:?}");
    // Killed again in the middle of the uploads.
    wait_for(&config, "first uploads", 3).await;
    gw.kill()?;
    gw.wait()?;
    let (mut gw, _) = start_gateway(&config);
    let s = wait_for(&config, "every message filed", 30).await;
    assert_eq!(s["dead"], 0, "{s}");

    // Exactly once: 30 messages, 30 documents, each shared with the ED doctor.
    let ho = world.login("dr.ho").await?;
    let hkid: PatientIdentifier = p.hkid.parse()?;
    let t = ho.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 30);
    let mut names: Vec<&str> = t
        .entries
        .iter()
        .map(|e| e.manifest.file_name.as_str())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 30, "every message once");

    // Operators retry dead letters (none here) and see the queue.
    let out = medshare()
        .args(["gateway", "retry", "--all", "--config"])
        .arg(&config)
        .output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 dead letter(s)"));
    let out = medshare()
        .args(["gateway", "status", "--config"])
        .arg(&config)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("done 30"), "{text}");
    // Nothing about the patient in what operators see.
    assert!(!text.contains(&p.hkid) && !text.contains(&p.name));

    gw.kill()?;
    gw.wait()?;
    hub.kill()?;
    hub.wait()?;
    Ok(())
}
