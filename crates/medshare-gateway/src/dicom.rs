//! The DICOM storage SCP (C-STORE and C-ECHO) on `dicom-ul`'s association layer. Any storage
//! SOP class is accepted in the common transfer syntaxes (implicit and explicit VR little
//! endian, deflated, explicit big endian, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000,
//! RLE); the data set is kept as received (never decoded) and written as a Part 10 file.
//!
//! Each instance is answered `Success` only after it is durable in the queue, in the study it
//! belongs to (see [`crate::study`] for how a study becomes one document). `TCP_NODELAY` is set
//! and every response is one write, so a small instance never waits for Nagle's algorithm.
//! Refusals: `0xA700` (out of resources: the queue is full or failing), `0xC000` (cannot
//! understand: no study/instance UID, or no patient identifier the rules can use).

use crate::config::DicomConfig;
use crate::envelope::{Envelope, Header, Source};
use crate::ingest::Shared;
use crate::metrics::Metrics;
use crate::queue::{Admission, now_ms};
use crate::study::InstanceFacts;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::server::ServerAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Transfer syntaxes accepted (data sets are stored as received, never decoded).
pub const TRANSFER_SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.2.1",    // explicit VR little endian
    "1.2.840.10008.1.2",      // implicit VR little endian
    "1.2.840.10008.1.2.1.99", // deflated explicit VR little endian
    "1.2.840.10008.1.2.2",    // explicit VR big endian (retired, still sent)
    "1.2.840.10008.1.2.4.50", // JPEG baseline
    "1.2.840.10008.1.2.4.51", // JPEG extended
    "1.2.840.10008.1.2.4.57", // JPEG lossless
    "1.2.840.10008.1.2.4.70", // JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.4.80", // JPEG-LS lossless
    "1.2.840.10008.1.2.4.81", // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91", // JPEG 2000
    "1.2.840.10008.1.2.5",    // RLE lossless
];

const VERIFICATION: &str = "1.2.840.10008.1.1";
const C_STORE_RQ: u16 = 0x0001;
const C_ECHO_RQ: u16 = 0x0030;
/// No data set follows.
const NO_DATASET: u16 = 0x0101;
/// Largest instance accepted in memory.
const MAX_INSTANCE: usize = 1 << 30;

pub const SUCCESS: u16 = 0x0000;
pub const OUT_OF_RESOURCES: u16 = 0xA700;
pub const CANNOT_UNDERSTAND: u16 = 0xC000;

/// The SCP's settings.
pub struct Listener {
    pub config: DicomConfig,
}

/// Accept associations until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    l: Arc<Listener>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "dicom: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = sock.set_nodelay(true);
        let (l, shared, stop) = (l.clone(), shared.clone(), stop.clone());
        tokio::spawn(async move {
            let gauge = shared
                .metrics
                .connections
                .get_or_create(&Metrics::source(Source::Dicom))
                .clone();
            gauge.inc();
            if let Err(e) = association(sock, &l, &shared, stop).await {
                tracing::debug!(error = %e, "dicom: association ended");
            }
            gauge.dec();
        });
    }
}

fn u16_of(o: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    o.element(tag).ok()?.to_int::<u16>().ok()
}

fn str_of(o: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let v = o.element(tag).ok()?.to_str().ok()?;
    Some(v.trim_matches([' ', '\0']).to_string())
}

/// A DIMSE response command (implicit VR little endian, group length computed).
pub fn response(
    command_field: u16,
    message_id: u16,
    sop_class: &str,
    sop_instance: Option<&str>,
    status: u16,
    comment: Option<&str>,
) -> Vec<u8> {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(command_field),
        ),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(message_id),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(NO_DATASET),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status)),
    ];
    if let Some(i) = sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(i),
        ));
    }
    if let Some(c) = comment {
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c),
        ));
    }
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let ts = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2")
        .expect("implicit VR little endian is always known");
    let mut out = Vec::with_capacity(160);
    obj.write_dataset_with_ts(&mut out, ts)
        .expect("writing a command to memory cannot fail");
    out
}

/// A data set as received, written as a DICOM Part 10 file (preamble, `DICM`, file meta).
pub fn part10(sop_class: &str, sop_instance: &str, ts: &str, dataset: &[u8]) -> Option<Vec<u8>> {
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(ts)
        .implementation_class_uid("2.25.113059749145936325402354257176981405696")
        .implementation_version_name("MEDSHARE_GW")
        .build()
        .ok()?;
    let mut out = Vec::with_capacity(dataset.len() + 512);
    out.extend_from_slice(&[0u8; 128]);
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).ok()?;
    out.extend_from_slice(dataset);
    Some(out)
}

async fn association(
    sock: tokio::net::TcpStream,
    l: &Listener,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let c = &l.config;
    let mut opts = ServerAssociationOptions::new()
        .ae_title(c.ae_title.clone())
        .promiscuous(true)
        .with_abstract_syntax(VERIFICATION)
        .max_pdu_length(c.max_pdu_length)
        .read_timeout(Duration::from_secs(300));
    for ts in TRANSFER_SYNTAXES {
        opts = opts.with_transfer_syntax(*ts);
    }
    let mut assoc = if c.require_called_ae_title {
        opts.accept_called_ae_title().establish_async(sock).await?
    } else {
        opts.establish_async(sock).await?
    };
    let calling_ae = dicom_ul::association::Association::peer_ae_title(&assoc)
        .trim()
        .to_string();
    let contexts: Vec<(u8, String)> = assoc
        .presentation_contexts()
        .iter()
        .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
        .collect();
    let mut command = Vec::new();
    let mut data = Vec::new();
    let mut pending: Option<(u8, InMemDicomObject)> = None;
    loop {
        let pdu = tokio::select! {
            r = assoc.receive() => r?,
            _ = stop.changed() => {
                let _ = assoc.abort().await;
                return Ok(());
            }
        };
        match pdu {
            Pdu::PData { data: values } => {
                for v in values {
                    match v.value_type {
                        PDataValueType::Command => {
                            command.extend_from_slice(&v.data);
                            if !v.is_last {
                                continue;
                            }
                            let ts = TransferSyntaxRegistry
                                .get("1.2.840.10008.1.2")
                                .expect("always known");
                            let cmd = InMemDicomObject::read_dataset_with_ts(&command[..], ts)?;
                            command.clear();
                            if u16_of(&cmd, tags::COMMAND_DATA_SET_TYPE) == Some(NO_DATASET) {
                                let answer = answer(
                                    &cmd,
                                    None,
                                    v.presentation_context_id,
                                    &contexts,
                                    &calling_ae,
                                    shared,
                                )
                                .await;
                                send(&mut assoc, v.presentation_context_id, answer).await?;
                            } else {
                                pending = Some((v.presentation_context_id, cmd));
                            }
                        }
                        PDataValueType::Data => {
                            if data.len() + v.data.len() > MAX_INSTANCE {
                                let _ = assoc.abort().await;
                                return Err("instance too large".into());
                            }
                            data.extend_from_slice(&v.data);
                            if !v.is_last {
                                continue;
                            }
                            let Some((pc, cmd)) = pending.take() else {
                                let _ = assoc.abort().await;
                                return Err("data set without a command".into());
                            };
                            let dataset = std::mem::take(&mut data);
                            let answer =
                                answer(&cmd, Some(dataset), pc, &contexts, &calling_ae, shared)
                                    .await;
                            send(&mut assoc, pc, answer).await?;
                        }
                    }
                }
            }
            Pdu::ReleaseRQ => {
                assoc.send(&Pdu::ReleaseRP).await?;
                return Ok(());
            }
            Pdu::AbortRQ { .. } => return Ok(()),
            _ => {
                let _ = assoc.abort().await;
                return Err("unexpected PDU".into());
            }
        }
    }
}

async fn send(
    assoc: &mut dicom_ul::association::server::AsyncServerAssociation<tokio::net::TcpStream>,
    pc: u8,
    bytes: Vec<u8>,
) -> Result<(), dicom_ul::association::Error> {
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: bytes,
            }],
        })
        .await
}

/// Handle one DIMSE request; the response command.
async fn answer(
    cmd: &InMemDicomObject,
    dataset: Option<Vec<u8>>,
    pc: u8,
    contexts: &[(u8, String)],
    calling_ae: &str,
    shared: &Shared,
) -> Vec<u8> {
    let started = Instant::now();
    let field = u16_of(cmd, tags::COMMAND_FIELD).unwrap_or(0);
    let message_id = u16_of(cmd, tags::MESSAGE_ID).unwrap_or(0);
    let sop_class = str_of(cmd, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
    let sop_instance = str_of(cmd, tags::AFFECTED_SOP_INSTANCE_UID);
    match (field, dataset) {
        (C_ECHO_RQ, _) => response(0x8030, message_id, &sop_class, None, SUCCESS, None),
        (C_STORE_RQ, Some(dataset)) => {
            let ts = contexts
                .iter()
                .find(|(id, _)| *id == pc)
                .map(|(_, ts)| ts.as_str())
                .unwrap_or("1.2.840.10008.1.2");
            let inst = sop_instance.clone().unwrap_or_default();
            let (status, comment) =
                store(&sop_class, &inst, ts, &dataset, calling_ae, shared).await;
            shared
                .metrics
                .ack_seconds
                .get_or_create(&Metrics::source(Source::Dicom))
                .observe(started.elapsed().as_secs_f64());
            response(
                0x8001,
                message_id,
                &sop_class,
                sop_instance.as_deref(),
                status,
                comment,
            )
        }
        _ => {
            shared.refused(Source::Dicom, "unsupported-command");
            // Not a service this node provides: "unrecognized operation".
            response(
                field | 0x8000,
                message_id,
                &sop_class,
                sop_instance.as_deref(),
                0x0211,
                Some("only C-STORE and C-ECHO are provided"),
            )
        }
    }
}

/// Queue one instance; its status and, for a refusal, a comment (never content).
async fn store(
    sop_class: &str,
    sop_instance: &str,
    ts: &str,
    dataset: &[u8],
    calling_ae: &str,
    shared: &Shared,
) -> (u16, Option<&'static str>) {
    let Some(file) = part10(sop_class, sop_instance, ts, dataset) else {
        shared.refused(Source::Dicom, "bad-command");
        return (
            CANNOT_UNDERSTAND,
            Some("the SOP class or instance UID is unusable"),
        );
    };
    let Some(facts) = InstanceFacts::read(&file) else {
        shared.refused(Source::Dicom, "unreadable");
        return (
            CANNOT_UNDERSTAND,
            Some("the data set cannot be read or has no study/instance UID"),
        );
    };
    if shared.rules.choose_patient(&facts.candidates()).is_none() {
        shared.refused(Source::Dicom, "no-patient-identifier");
        return (
            CANNOT_UNDERSTAND,
            Some("no usable patient identifier (PatientID, IssuerOfPatientID)"),
        );
    }
    let header = Header {
        received_at: now_ms() / 1000,
        calling_ae: (!calling_ae.is_empty()).then(|| calling_ae.to_string()),
        ..Default::default()
    };
    let part = Envelope { header, body: file }.seal(&shared.recipient);
    let res = shared
        .queue
        .add_instance(
            facts.study_uid.as_bytes(),
            facts.sop_uid.as_bytes(),
            part,
            shared.study_max_instances,
        )
        .await;
    match res {
        Ok(a) => {
            shared.count(Source::Dicom, std::slice::from_ref(&a));
            match a {
                Admission::Accepted { .. } => {
                    shared.wake.notify_one();
                    (SUCCESS, None)
                }
                Admission::Full => (OUT_OF_RESOURCES, Some("the gateway's queue is full")),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "dicom: the queue failed");
            shared.refused(Source::Dicom, "internal");
            (
                OUT_OF_RESOURCES,
                Some("the gateway could not store the instance"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_carry_their_group_length() {
        let r = response(
            0x8001,
            7,
            "1.2.840.10008.5.1.4.1.1.2",
            Some("1.2.3"),
            SUCCESS,
            None,
        );
        let ts = TransferSyntaxRegistry.get("1.2.840.10008.1.2").unwrap();
        let o = InMemDicomObject::read_dataset_with_ts(&r[..], ts).unwrap();
        assert_eq!(u16_of(&o, tags::COMMAND_FIELD), Some(0x8001));
        assert_eq!(u16_of(&o, tags::MESSAGE_ID_BEING_RESPONDED_TO), Some(7));
        assert_eq!(u16_of(&o, tags::STATUS), Some(SUCCESS));
        let len = o
            .element(tags::COMMAND_GROUP_LENGTH)
            .unwrap()
            .to_int::<u32>()
            .unwrap();
        // Group length counts everything after its own element (12 bytes).
        assert_eq!(len as usize, r.len() - 12);
    }
}
