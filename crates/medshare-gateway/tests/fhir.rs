//! FHIR R4 against a real hub, with outside clients and an outside validator: npm
//! `fhir-kit-client` posts an IHE MHD ITI-65 transaction and searches; PyPI `fhirclient` reads
//! the CapabilityStatement and searches DocumentReference (ITI-67); every resource and bundle the
//! gateway returns validates with PyPI `fhir.resources` (R4B models); Binary (ITI-68) returns
//! the decrypted bytes; Observation search gives the lab values of an HL7 result filed earlier.

mod common;

use common::{Harness, RULES, exchange, mllp, peers, run_peer};
use medshare_gateway::config::FhirConfig;

const TOKEN: &str = "fhir-test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mhd_with_outside_clients_and_validator() -> anyhow::Result<()> {
    let p = peers();
    let h = Harness::start(RULES, |c| {
        let tokens = c.data_dir.parent().unwrap().join("fhir-tokens");
        std::fs::write(&tokens, format!("# tokens of the EHR\n{TOKEN}\n")).unwrap();
        c.fhir = Some(FhirConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tokens_file: Some(tokens),
            ..FhirConfig::default()
        });
    })
    .await?;
    let base = format!("http://{}", h.gw().fhir.unwrap());
    let patient = medshare_synth::patients(61, 1).remove(0);
    let pdf = patient.documents[0].bytes.clone();

    // A lab result arrives over HL7 first (for the Observation search).
    let oru = medshare_synth::oru_r01(&patient, time::macros::date!(2026 - 03 - 14), 61);
    let acks = exchange(h.hl7(), &mllp(&oru), 1).await?;
    assert!(acks[0].contains("MSA|AA|"), "{}", acks[0]);

    // Unauthenticated: refused with an OperationOutcome.
    let r = reqwest::get(format!("{base}/DocumentReference?patient.identifier=x")).await?;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await?["resourceType"],
        "OperationOutcome"
    );

    // ITI-65 with fhir-kit-client: DocumentReference + Binary + Patient in a transaction.
    let node = p.join("node/node_modules/fhir-kit-client/dist/index.js");
    let script = format!(
        r#"
import {{ Client }} from '{}';
const [base, token, hkid, data] = process.argv.slice(2);
const client = new Client({{ baseUrl: base, bearerToken: token }});
const bundle = {{
  resourceType: 'Bundle', type: 'transaction',
  entry: [
    {{ fullUrl: 'urn:uuid:2f1f6c1c-0000-4000-8000-000000000001',
       resource: {{ resourceType: 'Patient', identifier: [{{ system: 'urn:medshare:id:hkid', value: hkid }}] }},
       request: {{ method: 'POST', url: 'Patient' }} }},
    {{ fullUrl: 'urn:uuid:2f1f6c1c-0000-4000-8000-000000000002',
       resource: {{ resourceType: 'DocumentReference', status: 'current',
         subject: {{ reference: 'urn:uuid:2f1f6c1c-0000-4000-8000-000000000001' }},
         description: 'Discharge summary',
         context: {{ period: {{ start: '2026-03-20' }} }},
         content: [{{ attachment: {{ contentType: 'application/pdf', url: 'urn:uuid:2f1f6c1c-0000-4000-8000-000000000003', title: 'discharge.pdf' }} }}] }},
       request: {{ method: 'POST', url: 'DocumentReference' }} }},
    {{ fullUrl: 'urn:uuid:2f1f6c1c-0000-4000-8000-000000000003',
       resource: {{ resourceType: 'Binary', contentType: 'application/pdf', data }},
       request: {{ method: 'POST', url: 'Binary' }} }}
  ]
}};
const res = await client.transaction({{ body: bundle }});
const cap = await client.capabilityStatement();
console.log(JSON.stringify({{ res, fhirVersion: cap.fhirVersion }}));
"#,
        node.display()
    );
    let js = h.dir.path().join("iti65.mjs");
    std::fs::write(&js, script)?;
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let out = run_peer(
        "node".as_ref(),
        &[js.to_str().unwrap(), &base, TOKEN, &patient.hkid, &data],
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(out.trim())?;
    assert_eq!(v["fhirVersion"], "4.0.1");
    assert_eq!(v["res"]["type"], "transaction-response");
    let location = v["res"]["entry"][1]["response"]["location"]
        .as_str()
        .expect("a location")
        .to_string();
    assert!(location.starts_with("DocumentReference/"), "{v}");
    let doc_id = location
        .trim_start_matches("DocumentReference/")
        .to_string();

    let s = h.wait_done(2).await?;
    assert_eq!(s.dead, 0, "{s:?}");
    // Filed under the id the transaction answered.
    let ho = h.world.login("dr.ho").await?;
    let opened = ho.open_document(doc_id.parse()?).await?;
    assert_eq!(opened.manifest.title, "Discharge summary");
    assert_eq!(
        opened.manifest.date_of_service.as_deref(),
        Some("2026-03-20")
    );

    // ITI-67/68, Patient, Observation: fetched and validated by the outside validator,
    // DocumentReference searched with fhirclient.
    let code = "2345-7";
    let validate = format!(
        r#"
import json, sys, base64, requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.binary import Binary
from fhirclient import client
from fhirclient.models.documentreference import DocumentReference as FcDocumentReference
base, token, hkid, doc_id = sys.argv[1:5]
h = {{"Authorization": "Bearer " + token, "Accept": "application/fhir+json"}}
def get(path):
    r = requests.get(base + path, headers=h, timeout=60)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()
CapabilityStatement.model_validate(get("/metadata"))
ident = "urn:medshare:id:hkid|" + hkid
docs = Bundle.model_validate(get("/DocumentReference?patient.identifier=" + ident))
pats = Bundle.model_validate(get("/Patient?identifier=" + ident))
obs = Bundle.model_validate(get("/Observation?patient.identifier=" + ident))
one = Bundle.model_validate(get("/Observation?patient.identifier=" + ident + "&code=http://loinc.org|{code}"))
doc = DocumentReference.model_validate(get("/DocumentReference/" + doc_id))
binary_json = get("/Binary/" + doc_id)
Binary.model_validate(binary_json)
raw = requests.get(base + "/Binary/" + doc_id, headers={{"Authorization": "Bearer " + token}}, timeout=60)
smart = client.FHIRClient(settings={{"app_id": "medshare-test", "api_base": base + "/"}})
smart.server.session.headers["Authorization"] = "Bearer " + token
found = FcDocumentReference.where(struct={{"patient.identifier": ident}}).perform_resources(smart.server)
print(json.dumps({{
  "documents": docs.total, "patients": pats.total, "observations": obs.total, "glucose": one.total,
  "doc_title": doc.description, "doc_type": doc.content[0].attachment.contentType,
  "binary_len": len(base64.b64decode(binary_json["data"])), "raw_len": len(raw.content),
  "raw_type": raw.headers["content-type"],
  "fhirclient_found": len(found),
  "patient_birth": str(pats.entry[0].resource.birthDate),
  "obs_system": obs.entry[0].resource.valueQuantity.system,
}}))
"#
    );
    let py = h.dir.path().join("validate.py");
    std::fs::write(&py, validate)?;
    let out = run_peer(
        &p.join("venv/bin/python"),
        &[py.to_str().unwrap(), &base, TOKEN, &patient.hkid, &doc_id],
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(out.trim())?;
    assert_eq!(v["documents"], 2, "{v}");
    assert_eq!(v["patients"], 1, "{v}");
    assert!(v["observations"].as_u64().unwrap() >= 3, "{v}");
    assert_eq!(v["glucose"], 1, "{v}");
    assert_eq!(v["doc_title"], "Discharge summary");
    assert_eq!(v["binary_len"], pdf.len());
    assert_eq!(v["raw_len"], pdf.len());
    assert_eq!(v["raw_type"], "application/pdf");
    assert_eq!(v["fhirclient_found"], 2);
    assert_eq!(v["patient_birth"], patient.birth_date.to_string());
    assert_eq!(v["obs_system"], "http://unitsofmeasure.org");

    // A bundle the gateway cannot take is refused with the reason.
    let r = reqwest::Client::new()
        .post(format!("{base}/"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"DocumentReference","subject":{"identifier":{"system":"urn:example","value":"1"}},"content":[{"attachment":{"data":"aGk="}}]}}]}"#)
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await?;
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("patient identifier")
    );
    h.stop().await
}
