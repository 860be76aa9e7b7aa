//! HL7 v2 over MLLP into a real hub: acknowledged only once durable, filed once, shared by the
//! rules; malformed frames and messages answered with the reason; batches; several messages
//! per connection; back-pressure.

mod common;

use common::{Harness, RULES, ack_code, exchange, mllp, read_answers};
use medshare_model::identifiers::PatientIdentifier;
use medshare_sandbox::Backend;
use tokio::io::AsyncWriteExt;

fn oru(seed: u64) -> (medshare_synth::SyntheticPatient, Vec<u8>) {
    let p = medshare_synth::patients(seed, 1).remove(0);
    let m = medshare_synth::oru_r01(&p, time::macros::date!(2026 - 03 - 14), seed);
    (p, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_acknowledged_durable_then_filed_once_and_shared() -> anyhow::Result<()> {
    acknowledged_durable_then_filed_once_and_shared(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_filed_once_and_shared_on_postgres_s3() -> anyhow::Result<()> {
    acknowledged_durable_then_filed_once_and_shared(Backend::PostgresS3).await
}

async fn acknowledged_durable_then_filed_once_and_shared(backend: Backend) -> anyhow::Result<()> {
    let h = Harness::start_on(backend, RULES, |_| {}).await?;
    let (p, message) = oru(101);
    // Sent in small pieces, with a stray newline between frames.
    let mut s = tokio::net::TcpStream::connect(h.hl7()).await?;
    let framed = mllp(&message);
    for piece in framed.chunks(7) {
        s.write_all(piece).await?;
    }
    s.write_all(b"\n").await?;
    let acks = read_answers(&mut s, 1).await?;
    assert_eq!(ack_code(&acks[0]), "AA", "{}", acks[0]);
    assert!(acks[0].contains("ACK^R01^ACK"));
    // Durable before the answer: it is in the queue already.
    let st = h.gw().shared.queue.status().await?;
    assert_eq!(st.ready + st.uploading + st.done, 1);

    // The same message again (the sender lost our ACK): acknowledged, not filed twice.
    s.write_all(&framed).await?;
    assert_eq!(ack_code(&read_answers(&mut s, 1).await?[0]), "AA");
    h.wait_done(1).await?;

    let ho = h.world.login("dr.ho").await?;
    let hkid: PatientIdentifier = p.hkid.parse()?;
    let t = ho.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1, "exactly once");
    let e = &t.entries[0];
    assert_eq!(e.manifest.category, "lab-report");
    assert_eq!(e.manifest.date_of_service.as_deref(), Some("2026-03-14"));
    assert_eq!(
        e.uploader.cert.profession,
        medshare_model::registration::Profession::Service
    );
    let c = e.manifest.classification.as_ref().unwrap();
    assert_eq!(e.manifest.urgent, c["critical"] == true);
    // The sealed card came from PID (read with a care relationship for the patient).
    let patient = ho
        .find_patient(&hkid)
        .await?
        .expect("registered by the gateway");
    ho.declare_care(&patient, None).await?;
    let card = ho.timeline(&hkid).await?.card.expect("card");
    assert_eq!(card.birth_date.unwrap(), p.birth_date.to_string());

    let metrics = h.metrics().await?;
    assert!(
        metrics.contains("medshare_gateway_received_total{source=\"hl7\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("medshare_gateway_duplicates_total{source=\"hl7\"} 1"));
    assert!(
        metrics.contains("medshare_gateway_uploaded_total{source=\"hl7\",kind=\"document\"} 1")
    );
    // Nothing about the patient in the metrics.
    assert!(!metrics.contains(&p.hkid) && !metrics.contains(&p.name));
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_the_reason_and_nothing_is_lost() -> anyhow::Result<()> {
    let h = Harness::start(RULES, |_| {}).await?;
    let (_, good) = oru(102);
    let good = String::from_utf8(good)?;

    // Several frames on one connection, each answered in order.
    let orm = good.replace("ORU^R01", "ORM^O01");
    let no_pid: String = good
        .split('\r')
        .filter(|s| !s.starts_with("PID"))
        .collect::<Vec<_>>()
        .join("\r");
    let not_hl7 = "hello, this is not HL7";
    let prod_only = good.replace("|T|2.5", "|X|2.5");
    let mut bytes = Vec::new();
    for m in [good.as_str(), &orm, &no_pid, not_hl7, &prod_only] {
        bytes.extend(mllp(m.as_bytes()));
    }
    // Unframed text between frames is skipped, not answered.
    bytes.extend_from_slice(b"MSH|^~\\&|stray bytes outside a frame\r");
    bytes.extend(mllp(good.replace("SYN", "SYX").as_bytes()));
    let acks = exchange(h.hl7(), &bytes, 6).await?;
    let codes: Vec<&str> = acks.iter().map(|a| ack_code(a)).collect();
    assert_eq!(codes, ["AA", "AR", "AE", "AR", "AR", "AA"], "{acks:#?}");
    assert!(acks[1].contains("ERR|||200^"), "{}", acks[1]);
    assert!(acks[2].contains("ERR|||101^no usable patient identifier"));
    assert!(acks[3].contains("ERR|||100^"));
    assert!(acks[4].contains("ERR|||202^"));

    // A batch: one transaction, one batch of acknowledgements.
    let (_, a) = oru(103);
    let (_, b) = oru(104);
    let batch = format!(
        "FHS|^~\\&|LIS|KPH\rBHS|^~\\&|LIS|KPH\r{}{}BTS|2\rFTS|1\r",
        String::from_utf8(a)?,
        String::from_utf8(b)?
    );
    let acks = exchange(h.hl7(), &mllp(batch.as_bytes()), 1).await?;
    assert!(acks[0].starts_with("BHS|"), "{}", acks[0]);
    assert_eq!(acks[0].matches("MSA|AA|").count(), 2, "{}", acks[0]);
    assert!(acks[0].ends_with("BTS|2\r"));

    // Line feeds instead of carriage returns, Latin-1 bytes: accepted.
    let (_, c) = oru(105);
    let lf = String::from_utf8(c)?
        .replace('\r', "\n")
        .replace("MEDSHARE-SYNTH", "M\u{fc}NSTER");
    let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&lf);
    let acks = exchange(h.hl7(), &mllp(&latin1), 1).await?;
    assert_eq!(ack_code(&acks[0]), "AA", "{}", acks[0]);

    // A frame over the size limit is refused (and the connection keeps working).
    let big = format!("{good}NTE|1||{}\r", "x".repeat(17 * 1024 * 1024));
    let mut bytes = mllp(big.as_bytes());
    bytes.extend(mllp(good.replace("SYN", "SYZ").as_bytes()));
    let acks = exchange(h.hl7(), &bytes, 2).await?;
    assert_eq!(ack_code(&acks[0]), "AR");
    assert_eq!(ack_code(&acks[1]), "AA");

    // A connection closed mid-frame: no answer, nothing queued from it.
    let before = h.gw().shared.queue.status().await?;
    {
        let mut s = tokio::net::TcpStream::connect(h.hl7()).await?;
        let half = mllp(good.replace("SYN", "SYH").as_bytes());
        s.write_all(&half[..half.len() / 2]).await?;
    }
    // Every accepted message is filed.
    let after = before.ready + before.uploading + before.done;
    assert_eq!(after, 6);
    let s = h.wait_done(after).await?;
    assert_eq!(s.done, after, "nothing from the half frame");
    assert_eq!(s.dead, 0);
    let metrics = h.metrics().await?;
    for reason in [
        "unsupported-type",
        "no-patient-identifier",
        "not-hl7",
        "unsupported-processing-id",
        "too-large",
        "mllp-junk",
    ] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "{reason}: {metrics}"
        );
    }
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_a_negative_acknowledgement() -> anyhow::Result<()> {
    // The hub is unreachable for this gateway, so nothing leaves the queue.
    let h = Harness::start(RULES, |c| {
        c.hub = Some("http://127.0.0.1:9".into());
        c.queue.max_items = 3;
    })
    .await?;
    let mut codes = Vec::new();
    for seed in 110..115 {
        let (_, m) = oru(seed);
        let a = exchange(h.hl7(), &mllp(&m), 1).await?;
        codes.push(ack_code(&a[0]).to_string());
        if codes.len() == 4 {
            assert!(
                a[0].contains("ERR|||207^the gateway's queue is full"),
                "{}",
                a[0]
            );
        }
    }
    assert_eq!(codes, ["AA", "AA", "AA", "AE", "AE"]);
    // Unreachable hub: retried, never a dead letter.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let s = h.gw().shared.queue.status().await?;
    assert_eq!((s.dead, s.done), (0, 0));
    assert_eq!(s.ready + s.uploading, 3);
    assert!(h.metrics().await?.contains("reason=\"hub-unreachable\""));
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mllp_over_mutual_tls() -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use std::sync::Arc;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server =
        CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&server_key, &ca)?;
    let client_key = KeyPair::generate()?;
    let client = CertificateParams::new(vec!["lis.hospital.local".to_string()])?
        .signed_by(&client_key, &ca)?;
    let tls_dir = tempfile::tempdir()?;
    let (cert, key, ca_pem) = (
        tls_dir.path().join("gw.pem"),
        tls_dir.path().join("gw.key"),
        tls_dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, server.pem())?;
    std::fs::write(&key, server_key.serialize_pem())?;
    std::fs::write(&ca_pem, ca.pem())?;
    let h = Harness::start(RULES, |c| {
        c.hl7.as_mut().unwrap().tls = Some(medshare_gateway::config::TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: Some(ca_pem.clone()),
        });
    })
    .await?;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let with_cert = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(
            vec![client.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(client_key.serialize_der())
                .map_err(anyhow::Error::msg)?,
        )?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let tcp = tokio::net::TcpStream::connect(h.hl7()).await?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(with_cert))
        .connect(name.clone(), tcp)
        .await?;
    let (_, m) = oru(120);
    tls.write_all(&mllp(&m)).await?;
    let mut buf = Vec::new();
    while !buf.ends_with(&[0x1c, 0x0d]) {
        let mut chunk = [0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut tls, &mut chunk).await?;
        anyhow::ensure!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(ack_code(&String::from_utf8_lossy(&buf[1..])), "AA");

    // Without a client certificate the gateway does not talk.
    let without = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(h.hl7()).await?;
    let refused = async {
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(without))
            .connect(name, tcp)
            .await?;
        tls.write_all(&mllp(&m)).await?;
        let mut chunk = [0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut tls, &mut chunk).await?;
        anyhow::ensure!(n > 0, "closed");
        Ok::<_, anyhow::Error>(())
    };
    assert!(refused.await.is_err());
    h.wait_done(1).await?;
    h.stop().await
}
