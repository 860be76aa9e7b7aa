//! DICOM into a real hub: C-ECHO and C-STORE from dcmtk (`echoscu`, `storescu`) and pynetdicom,
//! on pydicom's test files in several transfer syntaxes; a 100-instance CT study filed as one
//! document (a zip of its instances) once it is complete; refusals with a status.

mod common;

use common::{Harness, RULES, material, peers, run_peer};
use medshare_client::Client;
use medshare_gateway::config::DicomConfig;
use medshare_model::identifiers::PatientIdentifier;
use std::io::Read;
use std::sync::{Arc, Mutex};

fn with_dicom(c: &mut medshare_gateway::Config) {
    c.dicom = Some(DicomConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        study_quiet_secs: 1,
        ..DicomConfig::default()
    });
}

struct SharedVec(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Download a document and read the zip inside: entry names and contents.
async fn unzip(
    c: &Client,
    id: medshare_model::DocumentId,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let doc = c.open_document(id).await?;
    let out = Arc::new(Mutex::new(Vec::new()));
    c.download(&doc, SharedVec(out.clone()), |_| {}).await?;
    let bytes = out.lock().unwrap().clone();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let mut entries = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        let mut b = Vec::new();
        f.read_to_end(&mut b)?;
        entries.push((f.name().to_string(), b));
    }
    Ok(entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_scus_store_instances_in_common_transfer_syntaxes() -> anyhow::Result<()> {
    let (m, p) = (material(), peers());
    let h = Harness::start(RULES, with_dicom).await?;
    let port = h.gw().dicom.unwrap().port().to_string();
    run_peer(
        "echoscu".as_ref(),
        &["-aec", "MEDSHARE", "127.0.0.1", &port],
    )
    .await?;
    let pyd = m.join("pydicom");
    let file = |n: &str| pyd.join(n).to_str().unwrap().to_string();
    // dcmtk storescu: uncompressed, JPEG 2000, JPEG baseline.
    for (name, propose) in [
        ("CT_small.dcm", None),
        ("JPEG2000.dcm", Some("-xw")),
        ("SC_rgb_jpeg_dcmtk.dcm", Some("-xy")),
    ] {
        let f = file(name);
        let mut args = vec!["-aec", "MEDSHARE"];
        args.extend(propose);
        args.extend(["127.0.0.1", port.as_str(), f.as_str()]);
        run_peer("storescu".as_ref(), &args).await?;
    }
    // pynetdicom's storescu: RLE and explicit big endian, with exactly the files' contexts.
    let python = p.join("venv/bin/python");
    for name in ["MR_small_RLE.dcm", "MR_small_bigendian.dcm"] {
        let f = file(name);
        let out = run_peer(
            &python,
            &[
                "-m",
                "pynetdicom",
                "storescu",
                "-cx",
                "-aec",
                "MEDSHARE",
                "127.0.0.1",
                &port,
                &f,
            ],
        )
        .await?;
        assert!(!out.contains("Failed"), "{out}");
    }
    // 5 instances in 4 studies (the two MR encodings are one instance of one study).
    let s = h.wait_done(4).await?;
    assert_eq!((s.done, s.dead), (4, 0), "{s:?}");

    let ho = h.world.login("dr.ho").await?;
    for (patient, modality, instances) in [
        ("MRN:KPH:1CT1", "CT", 1),
        ("MRN:KPH:8NM1", "NM", 1),
        ("MRN:KPH:ID1", "OT", 1),
        ("MRN:KPH:4MR1", "MR", 1),
    ] {
        let id: PatientIdentifier = patient.parse()?;
        let t = ho.timeline(&id).await?;
        assert_eq!(t.entries.len(), 1, "{patient}");
        let e = &t.entries[0];
        assert_eq!(e.manifest.media_type, "application/zip");
        assert!(
            e.manifest.file_name.ends_with(&format!("-{modality}.zip")),
            "{}",
            e.manifest.file_name
        );
        let entries = unzip(&ho, e.document_id).await?;
        assert_eq!(entries.len(), instances, "{patient}");
        for (name, bytes) in entries {
            assert!(
                name.starts_with("series-") && name.ends_with(".dcm"),
                "{name}"
            );
            let facts =
                medshare_gateway::study::InstanceFacts::read(&bytes).expect("a Part 10 file");
            assert_eq!(facts.modality.as_deref(), Some(modality));
        }
    }
    let metrics = h.metrics().await?;
    assert!(
        metrics.contains("medshare_gateway_uploaded_total{source=\"dicom\",kind=\"study\"} 4"),
        "{metrics}"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_instance_ct_study_is_one_document_and_refusals_have_a_status() -> anyhow::Result<()>
{
    let (m, p) = (material(), peers());
    let h = Harness::start(RULES, with_dicom).await?;
    let port = h.gw().dicom.unwrap().port().to_string();
    let patient = medshare_synth::patients(33, 1).remove(0);
    let study = h.dir.path().join("study");
    std::fs::create_dir_all(&study)?;
    // 100 CT slices of one study and series, from pydicom's CT_small.
    let script = r#"
import sys, pydicom
from pydicom.uid import generate_uid
src, out, hkid = sys.argv[1:4]
study, series = generate_uid(), generate_uid()
for i in range(100):
    d = pydicom.dcmread(src)
    d.StudyInstanceUID, d.SeriesInstanceUID = study, series
    d.SOPInstanceUID = generate_uid()
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
    d.InstanceNumber, d.SeriesNumber = i + 1, 1
    d.PatientID = hkid
    d.save_as(f"{out}/slice{i:03d}.dcm")
"#;
    let py = h.dir.path().join("make_study.py");
    std::fs::write(&py, script)?;
    let python = p.join("venv/bin/python");
    run_peer(
        &python,
        &[
            py.to_str().unwrap(),
            m.join("pydicom/CT_small.dcm").to_str().unwrap(),
            study.to_str().unwrap(),
            &patient.hkid,
        ],
    )
    .await?;
    // One association, 100 C-STOREs.
    run_peer(
        "storescu".as_ref(),
        &[
            "-aec",
            "MEDSHARE",
            "+sd",
            "127.0.0.1",
            &port,
            study.to_str().unwrap(),
        ],
    )
    .await?;

    // Refused: an instance with no patient identifier (pynetdicom shows the status).
    let refuse = r#"
import sys, pydicom
from pynetdicom import AE
d = pydicom.dcmread(sys.argv[1]); del d.PatientID
ae = AE(); ae.add_requested_context(d.SOPClassUID, d.file_meta.TransferSyntaxUID)
a = ae.associate("127.0.0.1", int(sys.argv[2]), ae_title="MEDSHARE")
s = a.send_c_store(d); print(hex(s.Status), s.get("ErrorComment", "")); a.release()
"#;
    let py = h.dir.path().join("refuse.py");
    std::fs::write(&py, refuse)?;
    let out = run_peer(
        &python,
        &[
            py.to_str().unwrap(),
            m.join("pydicom/CT_small.dcm").to_str().unwrap(),
            &port,
        ],
    )
    .await?;
    assert!(
        out.starts_with("0xc000 no usable patient identifier"),
        "{out}"
    );

    let s = h.wait_done(1).await?;
    assert_eq!((s.done, s.dead), (1, 0), "{s:?}");
    let ho = h.world.login("dr.ho").await?;
    let t = ho.timeline(&patient.hkid.parse()?).await?;
    assert_eq!(t.entries.len(), 1, "one document for the study");
    let e = &t.entries[0];
    let c = e.manifest.classification.as_ref().unwrap();
    assert_eq!(c["modality"], "CT", "{c}");
    let entries = unzip(&ho, e.document_id).await?;
    assert_eq!(entries.len(), 100);
    assert_eq!(entries[0].0, "series-001-CT/00001.dcm");
    assert_eq!(entries[99].0, "series-001-CT/00100.dcm");
    let mut uids: Vec<String> = entries
        .iter()
        .map(|(_, b)| {
            medshare_gateway::study::InstanceFacts::read(b)
                .unwrap()
                .sop_uid
        })
        .collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 100);
    // The pixel data arrived as it was sent.
    let pixels = |bytes: &[u8]| -> Vec<u8> {
        let o = dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Auto)
            .from_reader(bytes)
            .unwrap();
        o.element(dicom_dictionary_std::tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .into_owned()
    };
    let sent = std::fs::read(study.join("slice000.dcm"))?;
    assert_eq!(pixels(&entries[0].1), pixels(&sent));
    h.stop().await
}
