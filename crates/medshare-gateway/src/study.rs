//! DICOM studies as medshare documents. One study is one document: a zip (stored, not
//! compressed: pixel data rarely shrinks) of its instances as DICOM Part 10 files, laid out
//! `series-NNN-MODALITY/NNNNN.dcm` by series and instance number, which every viewer that
//! imports a folder or zip (Weasis, Horos, OsiriX, 3D Slicer) opens. One download gives the
//! whole study; the manifest carries the classification of its first instance (modality,
//! study description, date) and the zip's media type.

use crate::envelope::Envelope;
use crate::hl7::Candidate;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions, file::ReadPreamble};
use medshare_classify::Classification;
use medshare_model::records::PatientCard;
use std::io::Write;

/// Header facts of one instance (no pixel data is read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFacts {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub modality: Option<String>,
    pub patient_id: Option<String>,
    pub issuer: Option<String>,
    pub series_number: Option<u32>,
    pub instance_number: Option<u32>,
}

fn text(o: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let v = o.element(tag).ok()?.to_str().ok()?;
    let v = v.trim_matches([' ', '\0']).trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn header(part10: &[u8]) -> Option<DefaultDicomObject> {
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .read_until(tags::PIXEL_DATA)
        .from_reader(part10)
        .ok()
}

impl InstanceFacts {
    /// Read a Part 10 file's header; `None` if it is not DICOM or has no study/instance UID.
    pub fn read(part10: &[u8]) -> Option<Self> {
        let o = header(part10)?;
        Some(Self {
            study_uid: text(&o, tags::STUDY_INSTANCE_UID)?,
            series_uid: text(&o, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            sop_uid: text(&o, tags::SOP_INSTANCE_UID)?,
            modality: text(&o, tags::MODALITY),
            patient_id: text(&o, tags::PATIENT_ID),
            issuer: text(&o, tags::ISSUER_OF_PATIENT_ID),
            series_number: text(&o, tags::SERIES_NUMBER).and_then(|s| s.parse().ok()),
            instance_number: text(&o, tags::INSTANCE_NUMBER).and_then(|s| s.parse().ok()),
        })
    }

    /// The patient identifier as a rules candidate (PatientID, IssuerOfPatientID).
    pub fn candidates(&self) -> Vec<Candidate> {
        self.patient_id
            .iter()
            .map(|id| Candidate {
                id: id.clone(),
                authority: self.issuer.clone().unwrap_or_default(),
                kind: String::new(),
            })
            .collect()
    }
}

/// A study ready to file.
pub struct Study {
    pub zip: Vec<u8>,
    pub file_name: String,
    pub classification: Classification,
    pub candidates: Vec<Candidate>,
    pub modality: Option<String>,
    pub card: PatientCard,
    pub instances: usize,
}

/// Pack a study's instances (envelopes whose bodies are Part 10 files). Errors are fixed codes.
pub fn package(parts: &[Envelope]) -> Result<Study, &'static str> {
    let mut instances: Vec<(InstanceFacts, &[u8])> = Vec::with_capacity(parts.len());
    for p in parts {
        let f = InstanceFacts::read(&p.body).ok_or("dicom-unreadable")?;
        instances.push((f, &p.body));
    }
    if instances.is_empty() {
        return Err("dicom-empty-study");
    }
    instances.sort_by(|(a, _), (b, _)| {
        (
            a.series_number,
            &a.series_uid,
            a.instance_number,
            &a.sop_uid,
        )
            .cmp(&(
                b.series_number,
                &b.series_uid,
                b.instance_number,
                &b.sop_uid,
            ))
    });
    let first = &instances[0];
    let classification = medshare_classify::classify(first.1);
    let mut modalities: Vec<String> = instances
        .iter()
        .filter_map(|(f, _)| f.modality.clone())
        .collect();
    modalities.dedup();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(instances.iter().map(|(_, b)| b.len()).sum::<usize>() > u32::MAX as usize / 2);
    let mut series_index = 0u32;
    let mut last_series = None;
    let mut in_series = 0u32;
    for (f, bytes) in &instances {
        if last_series.as_ref() != Some(&f.series_uid) {
            series_index += 1;
            in_series = 0;
            last_series = Some(f.series_uid.clone());
        }
        in_series += 1;
        let modality: String = f
            .modality
            .as_deref()
            .unwrap_or("OT")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let name = format!(
            "series-{:03}-{modality}/{:05}.dcm",
            f.series_number.unwrap_or(series_index),
            f.instance_number.unwrap_or(in_series)
        );
        zip.start_file(name, opts).map_err(|_| "zip")?;
        zip.write_all(bytes).map_err(|_| "zip")?;
    }
    let zip = zip.finish().map_err(|_| "zip")?.into_inner();
    let date = classification
        .date_of_service
        .clone()
        .unwrap_or_else(|| "undated".into());
    let file_name = format!(
        "study-{date}-{}.zip",
        if modalities.is_empty() {
            "DICOM".to_string()
        } else {
            modalities.join("-")
        }
    );
    let p = &classification.patient;
    let card = PatientCard {
        name: p.name.clone(),
        birth_date: p.birth_date.clone(),
        sex: p.sex.clone(),
    };
    Ok(Study {
        candidates: first.0.candidates(),
        modality: first.0.modality.clone(),
        file_name,
        card,
        instances: instances.len(),
        classification,
        zip,
    })
}
