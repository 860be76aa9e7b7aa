//! `gateway`: the institution gateway's ingest, end to end, against an in-process hub.
//!
//! 1. DICOM: `--associations` concurrent C-STORE SCUs (dicom-ul, `TCP_NODELAY`) send
//!    `--instances` CT instances of ~40 KB (`--study-size` per study) to the gateway's SCP.
//!    Reported: each C-STORE's round trip (request sent to response read: the instance is
//!    durable in the queue), the count of round trips over 40 ms (a Nagle stall would show up
//!    there), ingest instances/s, and instances/s from the first C-STORE until every study is
//!    filed on the hub (zipped, sealed, uploaded): the goal is 575 instances/s.
//!    Reference, when Debian's `Orthanc` is installed: the same instances into Orthanc, by
//!    C-STORE through the same SCU and by its REST API (`POST /instances`), same concurrency.
//! 2. HL7: `--hl7-connections` MLLP senders, each sending ORU^R01 messages one after another,
//!    `--hl7-messages` in all, to a gateway whose hub is away, so every message is queued
//!    locally (the situation the ACK goal names). Reported: ACK round trip percentiles (goal
//!    p99 < 10 ms) and ACKs/s (goal: thousands). Then a gateway on the same queue with the hub
//!    back files the backlog: messages/s filed.

use crate::report::{CpuMeter, Latency, Machine, Out, Target};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use medshare_gateway::config::{Config, DicomConfig, Hl7Config, QueueConfig};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct Args {
    /// CT instances to send.
    #[arg(long, default_value_t = 2000)]
    instances: usize,
    /// Instances per study (a study is filed when it reaches this count).
    #[arg(long, default_value_t = 100)]
    study_size: usize,
    /// Concurrent DICOM associations.
    #[arg(long, default_value_t = 4)]
    associations: usize,
    /// ORU^R01 messages to send.
    #[arg(long, default_value_t = 5000)]
    hl7_messages: usize,
    /// Concurrent MLLP connections.
    #[arg(long, default_value_t = 8)]
    hl7_connections: usize,
    /// The gateway's uploads in flight.
    #[arg(long, default_value_t = 4)]
    upload_concurrency: usize,
    /// Skip the Orthanc reference even when `Orthanc` is installed.
    #[arg(long)]
    no_orthanc: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1200)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Record {
    machine: Machine,
    dicom: DicomFigures,
    hl7: Hl7Figures,
    orthanc: Option<OrthancFigures>,
    targets: Vec<Target>,
}

/// The same instances into Orthanc (the reference for DICOM ingest on this machine kind).
#[derive(Serialize)]
struct OrthancFigures {
    version: String,
    c_store: Latency,
    c_store_instances_per_s: f64,
    rest_instances_per_s: f64,
}

#[derive(Serialize)]
struct DicomFigures {
    instances: usize,
    instance_bytes: usize,
    associations: usize,
    studies: usize,
    c_store: Latency,
    c_store_over_40ms: usize,
    ingest_instances_per_s: f64,
    filed_instances_per_s: f64,
    filed_secs: f64,
}

#[derive(Serialize)]
struct Hl7Figures {
    messages: usize,
    connections: usize,
    ack: Latency,
    acks_per_s: f64,
    filed_messages_per_s: f64,
    filed_secs: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    tokio::time::timeout(Duration::from_secs(args.timeout_secs), measure(&args, out))
        .await
        .map_err(|_| anyhow::anyhow!("the gateway benchmark ran past --timeout-secs"))?
}

/// A ~40 KB CT instance (160 x 128, 16 bit) as an explicit VR little endian data set.
fn ct_instance(study: &str, series: &str, sop: &str, n: usize, patient: &str) -> Vec<u8> {
    let pixels: Vec<u8> = (0..160 * 128 * 2).map(|i| (i * 7 + n) as u8).collect();
    let e = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    let obj = InMemDicomObject::from_element_iter([
        e(
            tags::SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.2".into(),
        ),
        e(tags::SOP_INSTANCE_UID, VR::UI, sop.into()),
        e(tags::STUDY_DATE, VR::DA, "20260314".into()),
        e(tags::MODALITY, VR::CS, "CT".into()),
        e(
            tags::STUDY_DESCRIPTION,
            VR::LO,
            "CT CHEST (synthetic)".into(),
        ),
        e(tags::PATIENT_NAME, VR::PN, "SYNTHETIC^PATIENT".into()),
        e(tags::PATIENT_ID, VR::LO, patient.into()),
        e(tags::STUDY_INSTANCE_UID, VR::UI, study.into()),
        e(tags::SERIES_INSTANCE_UID, VR::UI, series.into()),
        e(tags::SERIES_NUMBER, VR::IS, "1".into()),
        e(tags::INSTANCE_NUMBER, VR::IS, (n + 1).to_string().into()),
        e(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        e(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        ),
        e(tags::ROWS, VR::US, PrimitiveValue::from(160u16)),
        e(tags::COLUMNS, VR::US, PrimitiveValue::from(128u16)),
        e(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        e(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16)),
        e(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16)),
        e(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        e(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)),
    ]);
    let ts = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.1")
        .expect("explicit VR little endian");
    let mut v = Vec::new();
    obj.write_dataset_with_ts(&mut v, ts)
        .expect("in-memory write");
    v
}

fn store_command(sop: &str, message_id: u16) -> Vec<u8> {
    let e = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    let cmd = InMemDicomObject::command_from_element_iter([
        e(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.2".into(),
        ),
        e(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        e(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        e(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        e(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0000u16),
        ),
        e(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, sop.into()),
    ]);
    let ts = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2")
        .expect("implicit");
    let mut v = Vec::new();
    cmd.write_dataset_with_ts(&mut v, ts)
        .expect("in-memory write");
    v
}

/// One association sending `instances` (sop uid, data set); the round trip of each C-STORE.
async fn scu(
    addr: SocketAddr,
    called: &str,
    instances: Vec<(String, Vec<u8>)>,
) -> anyhow::Result<Vec<Duration>> {
    let mut a = ClientAssociationOptions::new()
        .calling_ae_title("BENCH")
        .called_ae_title(called.to_string())
        .with_presentation_context("1.2.840.10008.5.1.4.1.1.2", vec!["1.2.840.10008.1.2.1"])
        .max_pdu_length(65536)
        .establish_async(addr)
        .await?;
    a.inner_stream().set_nodelay(true)?;
    let pc = a
        .presentation_contexts()
        .first()
        .ok_or(anyhow::anyhow!("no presentation context accepted"))?
        .id;
    let chunk = (a.acceptor_max_pdu_length() as usize)
        .saturating_sub(12)
        .max(1024);
    let mut rtts = Vec::with_capacity(instances.len());
    for (i, (sop, data)) in instances.into_iter().enumerate() {
        let started = Instant::now();
        // The command in its own PDU, then the data set in pieces that fit the acceptor's
        // maximum PDU length (Orthanc's default is 16 KiB).
        a.send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: store_command(&sop, (i % 65000) as u16 + 1),
            }],
        })
        .await?;
        let pieces: Vec<&[u8]> = data.chunks(chunk).collect();
        let n = pieces.len();
        for (k, piece) in pieces.into_iter().enumerate() {
            a.send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type: PDataValueType::Data,
                    is_last: k + 1 == n,
                    data: piece.to_vec(),
                }],
            })
            .await?;
        }
        match a.receive().await? {
            Pdu::PData { data } => {
                let ts = TransferSyntaxRegistry
                    .get("1.2.840.10008.1.2")
                    .expect("implicit");
                let rsp = InMemDicomObject::read_dataset_with_ts(&data[0].data[..], ts)?;
                let status = rsp.element(tags::STATUS)?.to_int::<u16>()?;
                anyhow::ensure!(status == 0, "C-STORE status {status:#06x}");
            }
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
        rtts.push(started.elapsed());
    }
    let _ = a.release().await;
    Ok(rtts)
}

/// One MLLP connection sending `messages`; the round trip of each acknowledgement.
async fn mllp_sender(addr: SocketAddr, messages: Vec<Vec<u8>>) -> anyhow::Result<Vec<Duration>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut rtts = Vec::with_capacity(messages.len());
    let mut buf = Vec::with_capacity(4096);
    for m in messages {
        let mut f = Vec::with_capacity(m.len() + 3);
        f.push(0x0b);
        f.extend_from_slice(&m);
        f.extend_from_slice(&[0x1c, 0x0d]);
        let started = Instant::now();
        s.write_all(&f).await?;
        buf.clear();
        while !buf.ends_with(&[0x1c, 0x0d]) {
            let mut chunk = [0u8; 2048];
            let n = s.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "the gateway closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
        rtts.push(started.elapsed());
        anyhow::ensure!(
            buf.windows(7).any(|w| w == b"MSA|AA|"),
            "not accepted: {}",
            String::from_utf8_lossy(&buf)
        );
    }
    Ok(rtts)
}

async fn wait_filed(
    gw: &medshare_gateway::Running,
    done: i64,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let s = gw.shared.queue.status().await?;
        anyhow::ensure!(s.dead == 0, "dead letters: {:?}", s.dead_letters);
        if s.done >= done {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "not filed in time: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure(args: &Args, out: Out) -> anyhow::Result<()> {
    let machine = Machine::describe();
    machine.announce(out);
    let meter = CpuMeter::start();
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(&dir.path().join("hub"))).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let key = world
        .enrol_gateway("admin.kph", "bench-gateway", "Benchmark gateway")
        .await?;
    let key_path = dir.path().join("gateway.key");
    medshare_gateway::keyfile::write(&key_path, &key)?;
    let config = Config {
        key_file: Some(key_path),
        hub: None,
        hub_ca_cert: None,
        data_dir: dir.path().join("gateway"),
        rules: None,
        queue: QueueConfig {
            upload_concurrency: args.upload_concurrency,
            ..QueueConfig::default()
        },
        hl7: Some(Hl7Config {
            listen: "127.0.0.1:0".parse()?,
            processing_ids: vec!["P".into(), "T".into()],
            ..Hl7Config::default()
        }),
        dicom: Some(DicomConfig {
            listen: "127.0.0.1:0".parse()?,
            study_quiet_secs: 2,
            study_max_instances: args.study_size as u64,
            ..DicomConfig::default()
        }),
        fhir: None,
        folder: None,
        metrics: None,
    };
    let gw = medshare_gateway::start(config.clone()).await?;
    let dicom_addr = gw.dicom.expect("dicom");

    // --- DICOM ---------------------------------------------------------------------------
    let patients = medshare_synth::patients(2026, 8);
    let studies = args.instances.div_ceil(args.study_size);
    let mut per_assoc: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); args.associations];
    let mut instance_bytes = 0;
    for s in 0..studies {
        let study = format!("2.25.{}", 1_000_000_000u64 + s as u64);
        let series = format!("{study}.1");
        let patient = &patients[s % patients.len()].hkid;
        let n = args.study_size.min(args.instances - s * args.study_size);
        let target = &mut per_assoc[s % args.associations];
        for i in 0..n {
            let sop = format!("{series}.{}", i + 1);
            let data = ct_instance(&study, &series, &sop, i, patient);
            instance_bytes = data.len();
            target.push((sop, data));
        }
    }
    out.say(format!(
        "DICOM: {} CT instances of {} bytes in {studies} studies over {} associations",
        args.instances, instance_bytes, args.associations
    ));
    let reference_input = per_assoc.clone();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for list in per_assoc {
        tasks.push(tokio::spawn(scu(dicom_addr, "MEDSHARE", list)));
    }
    let mut rtts = Vec::new();
    for t in tasks {
        rtts.extend(t.await??);
    }
    let ingest = started.elapsed();
    wait_filed(&gw, studies as i64, Duration::from_secs(args.timeout_secs)).await?;
    let filed = started.elapsed();
    let stalls = rtts
        .iter()
        .filter(|d| **d >= Duration::from_millis(40))
        .count();
    let dicom = DicomFigures {
        instances: args.instances,
        instance_bytes,
        associations: args.associations,
        studies,
        c_store: Latency::of(&rtts),
        c_store_over_40ms: stalls,
        ingest_instances_per_s: args.instances as f64 / ingest.as_secs_f64(),
        filed_instances_per_s: args.instances as f64 / filed.as_secs_f64(),
        filed_secs: filed.as_secs_f64(),
    };
    out.say(format!(
        "C-STORE round trip (durable in the queue): {}",
        dicom.c_store.line()
    ));
    out.say(format!(
        "ingest {:.0} instances/s; filed on the hub (zipped, sealed, uploaded) {:.0} instances/s ({:.1} s); round trips >= 40 ms: {stalls}",
        dicom.ingest_instances_per_s, dicom.filed_instances_per_s, dicom.filed_secs
    ));
    let done_before = gw.shared.queue.status().await?.done;
    gw.stop().await;
    let orthanc = match medshare_gateway_orthanc(args, &reference_input, dir.path(), out).await {
        Ok(o) => o,
        Err(e) => {
            out.say(format!("Orthanc reference not measured: {e:#}"));
            None
        }
    };

    // --- HL7 -----------------------------------------------------------------------------
    // Queued locally: the hub is away for this gateway.
    let away = Config {
        hub: Some("http://127.0.0.1:9".into()),
        ..config.clone()
    };
    let gw = medshare_gateway::start(away).await?;
    let hl7_addr = gw.hl7.expect("hl7");
    let mut per_conn: Vec<Vec<Vec<u8>>> = vec![Vec::new(); args.hl7_connections];
    for i in 0..args.hl7_messages {
        let p = &patients[i % patients.len()];
        per_conn[i % args.hl7_connections].push(medshare_synth::oru_r01(
            p,
            time::macros::date!(2026 - 03 - 14),
            10_000 + i as u64,
        ));
    }
    out.say(format!(
        "HL7: {} ORU^R01 messages over {} MLLP connections, queued locally",
        args.hl7_messages, args.hl7_connections
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for list in per_conn {
        tasks.push(tokio::spawn(mllp_sender(hl7_addr, list)));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await??);
    }
    let acked = started.elapsed();
    gw.stop().await;
    // The hub is back: the backlog is filed.
    let gw = medshare_gateway::start(config).await?;
    let started = Instant::now();
    wait_filed(
        &gw,
        done_before + args.hl7_messages as i64,
        Duration::from_secs(args.timeout_secs),
    )
    .await?;
    let filed = started.elapsed();
    let hl7 = Hl7Figures {
        messages: args.hl7_messages,
        connections: args.hl7_connections,
        ack: Latency::of(&acks),
        acks_per_s: args.hl7_messages as f64 / acked.as_secs_f64(),
        filed_messages_per_s: args.hl7_messages as f64 / filed.as_secs_f64(),
        filed_secs: filed.as_secs_f64(),
    };
    out.say(format!(
        "ACK round trip (durable in the queue): {}",
        hl7.ack.line()
    ));
    out.say(format!(
        "{:.0} ACKs/s; the backlog filed on the hub at {:.0} messages/s ({:.1} s)",
        hl7.acks_per_s, hl7.filed_messages_per_s, hl7.filed_secs
    ));
    out.say(meter.finish().line());

    let mut targets = vec![
        Target::new(
            "dicom-filed",
            ">= 575 instances/s, C-STORE to durable encrypted upload",
            dicom.filed_instances_per_s,
            dicom.filed_instances_per_s >= 575.0,
        ),
        Target::new(
            "dicom-no-stalls",
            "no C-STORE round trip >= 40 ms (Nagle)",
            stalls as f64,
            stalls == 0,
        ),
        Target::new(
            "hl7-ack-p99",
            "ACK p99 < 10 ms when queued locally",
            hl7.ack.p99_ms,
            hl7.ack.p99_ms < 10.0,
        ),
        Target::new(
            "hl7-acks",
            "thousands of ACKs per second",
            hl7.acks_per_s,
            hl7.acks_per_s >= 1000.0,
        ),
    ];
    if let Some(o) = &orthanc {
        // Same instances, same SCU, same concurrency, same run: filed (zipped, sealed and
        // uploaded to the hub) against Orthanc merely storing them.
        let ratio = dicom.filed_instances_per_s / o.c_store_instances_per_s;
        targets.push(Target::new(
            "dicom-filed-vs-orthanc",
            "C-STORE to durable encrypted upload, as a ratio of Orthanc's C-STORE ingest (same run) >= 1",
            ratio,
            ratio >= 1.0,
        ));
    }
    for t in &targets {
        out.say(t.line());
    }
    gw.stop().await;
    hub.stop().await?;
    out.record(&Record {
        machine,
        dicom,
        hl7,
        orthanc,
        targets,
    })
}

/// Orthanc as the reference: same instances, same concurrency, C-STORE then REST.
async fn medshare_gateway_orthanc(
    args: &Args,
    per_assoc: &[Vec<(String, Vec<u8>)>],
    dir: &std::path::Path,
    out: Out,
) -> anyhow::Result<Option<OrthancFigures>> {
    if args.no_orthanc {
        return Ok(None);
    }
    let Some(bin) = crate::util::find_tool("Orthanc") else {
        out.say("Orthanc not installed (apt-get install orthanc): no reference");
        return Ok(None);
    };
    let version = String::from_utf8_lossy(
        &std::process::Command::new(&bin)
            .arg("--version")
            .output()?
            .stdout,
    )
    .lines()
    .next()
    .unwrap_or("Orthanc")
    .to_string();
    let run = |name: &str| -> anyhow::Result<(tokio::process::Child, u16, u16)> {
        let root = dir.join(name);
        std::fs::create_dir_all(&root)?;
        let (http, dicom) = (crate::util::free_port()?, crate::util::free_port()?);
        let config = serde_json::json!({
            "Name": "bench", "StorageDirectory": root.join("storage"),
            "IndexDirectory": root.join("index"), "HttpPort": http, "DicomPort": dicom,
            "DicomAet": "ORTHANC", "DicomCheckCalledAet": false, "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false, "StorageCompression": false, "Plugins": [],
            "HttpServerEnabled": true, "DicomServerEnabled": true
        });
        let path = root.join("orthanc.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        // Debian's Orthanc links the system DCMTK (3.6.7), which leaves Nagle's algorithm on
        // (Orthanc's own static builds turn it off): without DCMTK's `TCP_NODELAY=1` every
        // C-STORE answer waits for a 40 ms delayed ACK (measured: 78 instances/s, min 42 ms).
        let child = tokio::process::Command::new(&bin)
            .arg(&path)
            .env("TCP_NODELAY", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        Ok((child, http, dicom))
    };
    let ready = |http: u16| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if reqwest::get(format!("http://127.0.0.1:{http}/system"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok::<(), anyhow::Error>(());
            }
            anyhow::ensure!(Instant::now() < deadline, "Orthanc did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let total: usize = per_assoc.iter().map(Vec::len).sum();

    // C-STORE through the same SCU.
    let (mut child, http, dicom) = run("orthanc-dimse")?;
    ready(http).await?;
    let addr: SocketAddr = format!("127.0.0.1:{dicom}").parse()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for list in per_assoc.iter().cloned() {
        tasks.push(tokio::spawn(scu(addr, "ORTHANC", list)));
    }
    let mut rtts = Vec::new();
    for t in tasks {
        rtts.extend(t.await??);
    }
    let c_store_rate = total as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill().await;

    // REST: POST /instances with the Part 10 files.
    let (mut child, http, _) = run("orthanc-rest")?;
    ready(http).await?;
    let url = format!("http://127.0.0.1:{http}/instances");
    let files: Vec<Vec<Vec<u8>>> = per_assoc
        .iter()
        .map(|list| {
            list.iter()
                .filter_map(|(sop, data)| {
                    medshare_gateway::dicom::part10(
                        "1.2.840.10008.5.1.4.1.1.2",
                        sop,
                        "1.2.840.10008.1.2.1",
                        data,
                    )
                })
                .collect()
        })
        .collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for list in files {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for f in list {
                let r = client.post(&url).body(f).send().await?;
                anyhow::ensure!(r.status().is_success(), "Orthanc answered {}", r.status());
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rest_rate = total as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill().await;
    let o = OrthancFigures {
        version,
        c_store: Latency::of(&rtts),
        c_store_instances_per_s: c_store_rate,
        rest_instances_per_s: rest_rate,
    };
    out.say(format!(
        "reference {}: C-STORE {:.0} instances/s ({}), REST POST /instances {:.0} instances/s",
        o.version,
        o.c_store_instances_per_s,
        o.c_store.line(),
        o.rest_instances_per_s
    ));
    Ok(Some(o))
}
