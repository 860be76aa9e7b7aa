//! HL7 v2 from outside senders, on outside material: python `hl7`'s `mllp_send` (one message
//! at a time and MLLP-framed batches) and npm `simple-hl7`'s client, with messages shipped by
//! simple-hl7, hl7-standard (broken encoding characters) and python hl7.

mod common;

use common::{Harness, RULES, material, mllp, msa_codes, peers, run_peer};
use medshare_model::identifiers::PatientIdentifier;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_senders_and_messages() -> anyhow::Result<()> {
    let (m, p) = (material(), peers());
    let h = Harness::start(RULES, |_| {}).await?;
    let port = h.hl7().port().to_string();
    let mllp_send = p.join("venv/bin/mllp_send");
    // (file, what the gateway answers)
    let cases = [
        ("simple-hl7/oru.hl7", vec!["AA"]),
        ("simple-hl7/oru-imm.hl7", vec!["AA"]),
        ("simple-hl7/adt.hl7", vec!["AA"]),
        ("simple-hl7/orm.hl7", vec!["AR"]),
        ("hl7py/sample_hl7.hl7", vec!["AA"]),
        ("hl7py/sample_msh.hl7", vec!["AA"]),
    ];
    let mut accepted = 0;
    for (file, want) in &cases {
        let path = m.join(file);
        let out = run_peer(
            &mllp_send,
            &[
                "--loose",
                "-f",
                path.to_str().unwrap(),
                "-p",
                &port,
                "127.0.0.1",
            ],
        )
        .await?;
        assert_eq!(&msa_codes(&out), want, "{file}: {out}");
        accepted += want.iter().filter(|c| **c == "AA").count();
    }

    // MSH-2 is `^~ &` (broken encoding characters): the standard ones are assumed. Framed
    // here, since `--loose` splits files on a well-formed `MSH|^~\&|`.
    let broken = h.dir.path().join("broken.mllp");
    std::fs::write(
        &broken,
        mllp(&std::fs::read(m.join("hl7-standard/input.hl7"))?),
    )?;
    let out = run_peer(
        &mllp_send,
        &["-f", broken.to_str().unwrap(), "-p", &port, "127.0.0.1"],
    )
    .await?;
    assert_eq!(msa_codes(&out), ["AA"], "{out}");
    accepted += 1;

    // A batch file (BHS ... BTS), sent as one MLLP frame: one batch of acknowledgements.
    let batch = std::fs::read(m.join("hl7py/sample_batch1.hl7"))?;
    let framed = h.dir.path().join("batch.mllp");
    std::fs::write(&framed, mllp(&batch))?;
    let out = run_peer(
        &mllp_send,
        &["-f", framed.to_str().unwrap(), "-p", &port, "127.0.0.1"],
    )
    .await?;
    assert!(out.contains("BHS|"), "{out}");
    assert_eq!(msa_codes(&out), ["AA", "AA"], "{out}");
    accepted += 2;

    // npm simple-hl7's client.
    let script = r#"
const hl7 = require('simple-hl7'); const fs = require('fs');
const [port, file] = process.argv.slice(2);
const msg = new hl7.Parser({ segmentSeperator: '\r' }).parse(fs.readFileSync(file, 'latin1').replace(/\r?\n/g, '\r').trim());
const client = hl7.Server.createTcpClient('127.0.0.1', Number(port));
client.send(msg, (err, ack) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(ack.log());
  process.exit(0);
});
"#;
    let js = h.dir.path().join("send.js");
    std::fs::write(&js, script)?;
    let node_path = p.join("node/node_modules");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(&js)
            .arg(&port)
            .arg(
                m.join("hl7py/sample_hl7.hl7")
                    .with_file_name("sample_hl7.hl7"),
            )
            .env("NODE_PATH", &node_path)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same message as before: acknowledged again, not filed twice.
    assert_eq!(msa_codes(&text), ["AA"], "{text}");

    let s = h.wait_done(accepted as i64).await?;
    assert_eq!(s.dead, 0, "{s:?}");
    // The ORU from simple-hl7 is filed under the record number the rules map (KPH).
    let ho = h.world.login("dr.ho").await?;
    let mrn: PatientIdentifier = "MRN:KPH:94000000000".parse()?;
    let t = ho.timeline(&mrn).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].manifest.category, "lab-report");
    h.stop().await
}
