//! FHIR R4 REST for the hospital's own systems, IHE MHD style:
//!
//! - `POST /` a `Bundle` of type `transaction` (ITI-65 Provide Document Bundle):
//!   `DocumentReference` entries with their content inline (`attachment.data`) or in a `Binary`
//!   entry of the bundle (`attachment.url` = its `fullUrl`), the subject by identifier or as a
//!   `Patient` entry. Queued durably (like every input) before the answer: a
//!   `transaction-response` with `201 Created` and `DocumentReference/<id>`, the id the record
//!   will have on the hub. A full queue answers 503.
//! - `GET /DocumentReference?patient.identifier=system|value` (ITI-67) and
//!   `GET /DocumentReference/<id>`, `GET /Binary/<id>` (ITI-68): decrypted here, from what the
//!   gateway may read (what it filed, what is shared with it, patients a clinician declared
//!   care for it).
//! - `GET /Patient?identifier=system|value` and `GET /Observation?patient.identifier=...&code=...`
//!   (lab values from the records' classification, LOINC/UCUM) for lab trends.
//! - `GET /metadata`: the `CapabilityStatement`.
//!
//! Identifiers: system `urn:medshare:id:hkid` (or any system ending in `hkid`),
//! `urn:medshare:id:passport:<CC>`, `urn:medshare:id:mrn:<CODE>`, a system the rules map to an
//! institution (`record_number_authorities`), or a value written `HKID:...`, `MRN:CODE:...`.
//! Authentication: a bearer token from the configured list, or (with TLS) a client certificate
//! from the configured CA. Errors are `OperationOutcome`s with fixed texts.

// Helpers return a ready `OperationOutcome` response as their error, the way axum handlers
// return early; its size does not matter on this path.
#![allow(clippy::result_large_err)]

use crate::envelope::{Envelope, Header, Source};
use crate::ingest::{Incoming, Shared};
use crate::queue::{Admission, Kind, now_ms};
use crate::uploader::Uploader;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_client::{Client, TimelineEntry};
use medshare_model::DocumentId;
use medshare_model::identifiers::PatientIdentifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";
const HKID_SYSTEM: &str = "urn:medshare:id:hkid";
const PASSPORT_SYSTEM: &str = "urn:medshare:id:passport:";
const MRN_SYSTEM: &str = "urn:medshare:id:mrn:";
const LOINC: &str = "http://loinc.org";
/// Largest document served decrypted from memory.
const MAX_SERVED: u64 = 512 * 1024 * 1024;

/// The FHIR endpoint's state.
pub struct Fhir {
    pub shared: Arc<Shared>,
    pub uploader: Arc<Uploader>,
    /// SHA-256 of each accepted bearer token.
    pub tokens: Vec<[u8; 32]>,
    /// Clients may authenticate with a certificate instead (TLS with a client CA).
    pub mutual_tls: bool,
    /// Base URL for `fullUrl`, `url` and `location`, without a trailing slash.
    pub base: String,
}

/// Hash of a bearer token, for the accepted list.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// An `OperationOutcome` response.
fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]
    });
    fhir(status, body)
}

fn fhir(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        body.to_string(),
    )
        .into_response()
}

/// The routes; every one but `/metadata` needs a token or a client certificate.
pub fn router(state: Arc<Fhir>) -> Router {
    let protected = Router::new()
        .route("/", post(transaction))
        .route("/DocumentReference", get(search_documents))
        .route("/DocumentReference/{id}", get(read_document))
        .route("/Binary/{id}", get(read_binary))
        .route("/Patient", get(search_patients))
        .route("/Observation", get(search_observations))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/metadata", get(metadata))
        .merge(protected)
        .fallback(|| async {
            outcome(
                StatusCode::NOT_FOUND,
                "not-supported",
                "no such interaction",
            )
        })
        .with_state(state)
}

async fn auth(State(s): State<Arc<Fhir>>, req: Request, next: Next) -> Response {
    if s.mutual_tls {
        // The TLS layer already required a certificate from the configured CA.
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(token_hash);
    match presented {
        Some(h) if s.tokens.iter().any(|t| t == &h) => next.run(req).await,
        _ => outcome(
            StatusCode::UNAUTHORIZED,
            "login",
            "a bearer token of this gateway is required",
        ),
    }
}

async fn metadata(State(s): State<Arc<Fhir>>) -> Response {
    let search =
        |name: &str, ty: &str, doc: &str| json!({"name": name, "type": ty, "documentation": doc});
    let body = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-29",
        "publisher": "medshare",
        "kind": "instance",
        "software": {"name": "medshare gateway", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "medshare institution gateway", "url": s.base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "IHE MHD Document Recipient (ITI-65) and Responder (ITI-67, ITI-68) over medshare: documents are encrypted before they leave this gateway.",
            "security": {
                "cors": false,
                "description": "Bearer token issued by the institution, or mutual TLS with the institution's CA."
            },
            "resource": [
                {
                    "type": "DocumentReference",
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [
                        search("patient.identifier", "token", "The patient's identifier: system|value"),
                        search("status", "token", "Only `current` is held")
                    ]
                },
                {"type": "Binary", "interaction": [{"code": "read"}]},
                {
                    "type": "Patient",
                    "interaction": [{"code": "search-type"}],
                    "searchParam": [search("identifier", "token", "system|value")]
                },
                {
                    "type": "Observation",
                    "interaction": [{"code": "search-type"}],
                    "searchParam": [
                        search("patient.identifier", "token", "The patient's identifier: system|value"),
                        search("code", "token", "LOINC code, e.g. http://loinc.org|2345-7")
                    ]
                }
            ],
            "interaction": [{"code": "transaction", "documentation": "ITI-65 Provide Document Bundle"}]
        }]
    });
    fhir(StatusCode::OK, body)
}

/// A patient identifier from a FHIR `system` and `value`.
pub fn identifier(
    rules: &crate::rules::Rules,
    system: Option<&str>,
    value: &str,
) -> Option<PatientIdentifier> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.contains(':')
        && let Ok(id) = value.parse::<PatientIdentifier>()
    {
        return Some(id);
    }
    let p = rules.patients();
    match system.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.to_ascii_lowercase().ends_with("hkid") => PatientIdentifier::hkid(value).ok(),
        Some(s) if s.starts_with(PASSPORT_SYSTEM) => {
            format!("PASSPORT:{}:{value}", &s[PASSPORT_SYSTEM.len()..])
                .parse()
                .ok()
        }
        Some(s) if s.starts_with(MRN_SYSTEM) => format!("MRN:{}:{value}", &s[MRN_SYSTEM.len()..])
            .parse()
            .ok(),
        Some(s) => p
            .record_number_authorities
            .get(s)
            .and_then(|code| format!("MRN:{code}:{value}").parse().ok()),
        None => PatientIdentifier::hkid(value).ok().or_else(|| {
            p.record_number_institution
                .as_ref()
                .and_then(|code| format!("MRN:{code}:{value}").parse().ok())
        }),
    }
}

/// A FHIR `Identifier` for a patient identifier.
fn fhir_identifier(id: &PatientIdentifier) -> Value {
    match id {
        PatientIdentifier::Hkid(h) => json!({"system": HKID_SYSTEM, "value": h}),
        PatientIdentifier::Passport { country, number } => {
            json!({"system": format!("{PASSPORT_SYSTEM}{country}"), "value": number})
        }
        PatientIdentifier::RecordNumber {
            institution,
            number,
        } => json!({"system": format!("{MRN_SYSTEM}{institution}"), "value": number}),
    }
}

/// `system|value` (a token search parameter).
fn token(rules: &crate::rules::Rules, t: &str) -> Option<PatientIdentifier> {
    match t.split_once('|') {
        Some((s, v)) => identifier(rules, Some(s), v),
        None => identifier(rules, None, t),
    }
}

async fn session(s: &Fhir) -> Result<Arc<Client>, Response> {
    s.uploader.session().await.map_err(|_| {
        outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the hub cannot be reached: retry later",
        )
    })
}

fn hub_error(e: medshare_client::ClientError) -> Response {
    use medshare_model::ErrorCode::*;
    match e.code() {
        Some(NotFound) => outcome(StatusCode::NOT_FOUND, "not-found", "no such resource"),
        Some(Forbidden) | Some(NotCertified) => outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the gateway may not read this record",
        ),
        Some(_) | None if matches!(e, medshare_client::ClientError::Http(_)) => outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the hub cannot be reached: retry later",
        ),
        _ => {
            tracing::warn!(error = %e, "fhir: a hub request failed");
            outcome(
                StatusCode::BAD_GATEWAY,
                "exception",
                "the hub refused the request",
            )
        }
    }
}

fn coding(code: &Value) -> Option<Value> {
    Some(json!({
        "system": code.get("system")?.as_str()?,
        "code": code.get("code")?.as_str()?,
        "display": code.get("display").and_then(Value::as_str).unwrap_or_default(),
    }))
}

/// A `DocumentReference` for a record the gateway may read.
fn document_reference(base: &str, e: &TimelineEntry, patient: Option<&PatientIdentifier>) -> Value {
    let m = &e.manifest;
    let id = e.document_id.to_string();
    let c = m.classification.as_ref();
    let class = c.and_then(|c| c.get("class_code")).and_then(coding);
    let ty = c
        .and_then(|c| c.get("type_code"))
        .and_then(coding)
        .or_else(|| class.clone());
    let created = e
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut attachment = json!({
        "contentType": m.media_type,
        "url": format!("{base}/Binary/{id}"),
        "size": m.size.min(u32::MAX as u64),
        "title": m.file_name,
    });
    let mut doc = json!({
        "resourceType": "DocumentReference",
        "id": id,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")},
        "status": "current",
        "subject": match patient {
            Some(p) => json!({"identifier": fhir_identifier(p)}),
            None => json!({"display": "the patient of this record"}),
        },
        "date": created,
        "author": [{"display": format!("{} ({})", e.uploader.cert.name, e.uploader.cert.handle)}],
        "description": m.title,
        "content": [],
    });
    if let Some(ty) = ty {
        doc["type"] = json!({"coding": [ty], "text": m.category});
    } else {
        doc["type"] = json!({"text": m.category});
    }
    if let Some(class) = class {
        doc["category"] = json!([{"coding": [class]}]);
    }
    if let Some(d) = &m.date_of_service {
        attachment["creation"] = json!(d);
        doc["context"] = json!({"period": {"start": d}});
    }
    doc["content"] = json!([{"attachment": attachment}]);
    doc
}

fn searchset(base: &str, self_url: &str, resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            );
            json!({"fullUrl": url, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    })
}

fn patient_param(
    s: &Fhir,
    q: &HashMap<String, String>,
    names: &[&str],
) -> Result<PatientIdentifier, Response> {
    let t = names.iter().find_map(|n| q.get(*n)).ok_or_else(|| {
        outcome(
            StatusCode::BAD_REQUEST,
            "required",
            "search by patient.identifier=system|value",
        )
    })?;
    token(&s.shared.rules, t).ok_or_else(|| {
        outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the patient identifier is not one this gateway understands",
        )
    })
}

async fn search_documents(
    State(s): State<Arc<Fhir>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let patient = match patient_param(&s, &q, &["patient.identifier", "subject.identifier"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if q.get("status").is_some_and(|v| v != "current") {
        return fhir(
            StatusCode::OK,
            searchset(
                &s.base,
                &format!("{}/DocumentReference", s.base),
                Vec::new(),
            ),
        );
    }
    let c = match session(&s).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match c.timeline(&patient).await {
        Ok(t) => t,
        Err(e) => return hub_error(e),
    };
    let docs = t
        .entries
        .iter()
        .map(|e| document_reference(&s.base, e, Some(&patient)))
        .collect();
    fhir(
        StatusCode::OK,
        searchset(&s.base, &format!("{}/DocumentReference", s.base), docs),
    )
}

fn parse_id(id: &str) -> Result<DocumentId, Response> {
    id.parse()
        .map_err(|_| outcome(StatusCode::NOT_FOUND, "not-found", "no such resource"))
}

/// Open a document: metadata, decrypted content (checked against its binding), and the
/// patient identifier it was filed under, when known.
async fn open(s: &Fhir, id: &str, content: bool) -> Result<(TimelineEntry, Vec<u8>), Response> {
    let id = parse_id(id)?;
    let c = session(s).await?;
    let d = c.open_document(id).await.map_err(hub_error)?;
    let bytes = if content {
        if d.manifest.size > MAX_SERVED {
            return Err(outcome(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                "the document is too large to serve here",
            ));
        }
        let out = Arc::new(Mutex::new(Vec::with_capacity(d.manifest.size as usize)));
        c.download(&d, SharedVec(out.clone()), |_| {})
            .await
            .map_err(hub_error)?;
        std::mem::take(&mut *out.lock().expect("poisoned"))
    } else {
        Vec::new()
    };
    let entry = TimelineEntry {
        document_id: id,
        manifest: d.manifest.clone(),
        uploader: d.uploader.clone(),
        institution_id: d.view.institution_id,
        created_at: d.view.created_at,
        size: d.view.size,
    };
    Ok((entry, bytes))
}

struct SharedVec(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("poisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The patient a document names in its classification (for a read by id, where no search
/// parameter says who it is).
fn named_patient(e: &TimelineEntry) -> Option<PatientIdentifier> {
    let c: medshare_classify::Classification =
        serde_json::from_value(e.manifest.classification.clone()?).ok()?;
    c.patient
        .identifiers
        .iter()
        .find_map(|i| i.as_patient_identifier())
}

async fn read_document(State(s): State<Arc<Fhir>>, Path(id): Path<String>) -> Response {
    match open(&s, &id, false).await {
        Ok((e, _)) => fhir(
            StatusCode::OK,
            document_reference(&s.base, &e, named_patient(&e).as_ref()),
        ),
        Err(r) => r,
    }
}

async fn read_binary(
    State(s): State<Arc<Fhir>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (e, bytes) = match open(&s, &id, true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let wants_resource = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("fhir+json") || a.contains("application/json"));
    if wants_resource {
        return fhir(
            StatusCode::OK,
            json!({
                "resourceType": "Binary",
                "id": id,
                "contentType": e.manifest.media_type,
                "data": B64.encode(&bytes),
            }),
        );
    }
    let ct = HeaderValue::from_str(&e.manifest.media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

async fn search_patients(
    State(s): State<Arc<Fhir>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = match patient_param(&s, &q, &["identifier"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let c = match session(&s).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let found = match c.find_patient(&id).await {
        Ok(p) => p,
        Err(e) if e.code() == Some(medshare_model::ErrorCode::Forbidden) => None,
        Err(e) => return hub_error(e),
    };
    let mut resources = Vec::new();
    if let Some(p) = found {
        let mut r = json!({
            "resourceType": "Patient",
            "id": p.id().to_string(),
            "identifier": [fhir_identifier(&id)],
        });
        if let Ok(Some(card)) = c.patient_card(&p).await {
            if let Some(n) = card.name {
                r["name"] = json!([{"text": n}]);
            }
            if let Some(b) = card.birth_date {
                r["birthDate"] = json!(b);
            }
            if let Some(g) = card.sex.as_deref().map(|s| match s {
                "M" | "male" => "male",
                "F" | "female" => "female",
                "O" | "other" => "other",
                _ => "unknown",
            }) {
                r["gender"] = json!(g);
            }
        }
        resources.push(r);
    }
    fhir(
        StatusCode::OK,
        searchset(&s.base, &format!("{}/Patient", s.base), resources),
    )
}

/// A FHIR dateTime from a classified time: a time without a zone is cut to its date.
fn date_time(t: &str) -> String {
    let has_zone = t.len() > 19 && (t.ends_with('Z') || t[19..].contains(['+', '-']));
    if t.contains('T') && !has_zone {
        t.get(..10).unwrap_or(t).to_string()
    } else {
        t.to_string()
    }
}

async fn search_observations(
    State(s): State<Arc<Fhir>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let patient = match patient_param(&s, &q, &["patient.identifier", "subject.identifier"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let want = q
        .get("code")
        .map(|c| c.rsplit('|').next().unwrap_or(c).to_string());
    let c = match session(&s).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match c.timeline(&patient).await {
        Ok(t) => t,
        Err(e) => return hub_error(e),
    };
    let mut out = Vec::new();
    for e in &t.entries {
        let Some(cl) = e
            .manifest
            .classification
            .clone()
            .and_then(|v| serde_json::from_value::<medshare_classify::Classification>(v).ok())
        else {
            continue;
        };
        for (n, o) in cl.observations.iter().enumerate() {
            let (code, value, unit) = match (&o.normalised, &o.loinc, &o.value) {
                (Some(norm), _, _) => (norm.loinc.clone(), norm.value, Some(norm.unit.clone())),
                (None, Some(l), medshare_classify::Value::Number(v)) => {
                    (l.clone(), *v, o.unit.clone())
                }
                _ => continue,
            };
            if want
                .as_ref()
                .is_some_and(|w| *w != code && o.loinc.as_deref() != Some(w.as_str()))
            {
                continue;
            }
            let mut r = json!({
                "resourceType": "Observation",
                "id": format!("{}-{}", e.document_id, n + 1),
                "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory"
                }]}],
                "code": {"coding": [{"system": LOINC, "code": code}], "text": o.name},
                "subject": {"identifier": fhir_identifier(&patient)},
                "derivedFrom": [{"reference": format!("DocumentReference/{}", e.document_id)}],
            });
            let mut quantity = json!({"value": value});
            if let Some(u) = unit.filter(|u| !u.is_empty()) {
                quantity["unit"] = json!(u);
                quantity["system"] = json!("http://unitsofmeasure.org");
                quantity["code"] = json!(u);
            }
            r["valueQuantity"] = quantity;
            if let Some(t) = o.time.as_deref().or(e.manifest.date_of_service.as_deref()) {
                r["effectiveDateTime"] = json!(date_time(t));
            }
            if let Some(f) = o
                .flag
                .as_deref()
                .filter(|f| ["H", "L", "HH", "LL", "N", "A", "AA"].contains(f))
            {
                r["interpretation"] = json!([{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": f
                }]}]);
            }
            if let Some(range) = &o.reference_range {
                r["referenceRange"] = json!([{"text": range}]);
            }
            out.push(r);
        }
    }
    fhir(
        StatusCode::OK,
        searchset(&s.base, &format!("{}/Observation", s.base), out),
    )
}

/// One document found in a transaction bundle.
struct Submitted {
    index: usize,
    patient: PatientIdentifier,
    bytes: Vec<u8>,
    title: Option<String>,
    file_name: Option<String>,
    date: Option<String>,
    binary_index: Option<usize>,
}

fn invalid(diagnostics: &str) -> Response {
    outcome(StatusCode::BAD_REQUEST, "invalid", diagnostics)
}

/// Read the documents out of an ITI-65 bundle.
fn submitted(rules: &crate::rules::Rules, bundle: &Value) -> Result<Vec<Submitted>, Response> {
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
        return Err(invalid("expected a Bundle of type transaction"));
    }
    let entries = bundle["entry"]
        .as_array()
        .ok_or_else(|| invalid("the bundle has no entries"))?;
    let by_url: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((e["fullUrl"].as_str()?, i)))
        .collect();
    let patient_of = |subject: &Value| -> Option<PatientIdentifier> {
        let ident = |i: &Value| identifier(rules, i["system"].as_str(), i["value"].as_str()?);
        if let Some(id) = ident(&subject["identifier"]) {
            return Some(id);
        }
        let r = subject["reference"].as_str()?;
        let p = &entries.get(*by_url.get(r)?)?["resource"];
        (p["resourceType"] == "Patient")
            .then(|| p["identifier"].as_array())?
            .and_then(|ids| ids.iter().find_map(ident))
    };
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let r = &e["resource"];
        if r["resourceType"] != "DocumentReference" {
            continue;
        }
        let patient = patient_of(&r["subject"]).ok_or_else(|| {
            invalid(
                "a DocumentReference's subject has no patient identifier this gateway understands",
            )
        })?;
        let att = &r["content"][0]["attachment"];
        let (data, binary_index) = match (att["data"].as_str(), att["url"].as_str()) {
            (Some(d), _) => (d.to_string(), None),
            (None, Some(url)) => {
                let bi = *by_url.get(url).ok_or_else(|| {
                    invalid("attachment.url must name a Binary entry of the bundle")
                })?;
                let b = &entries[bi]["resource"];
                if b["resourceType"] != "Binary" {
                    return Err(invalid(
                        "attachment.url must name a Binary entry of the bundle",
                    ));
                }
                (
                    b["data"]
                        .as_str()
                        .ok_or_else(|| invalid("the Binary has no data"))?
                        .to_string(),
                    Some(bi),
                )
            }
            _ => return Err(invalid("a DocumentReference without content")),
        };
        let bytes = B64
            .decode(data.trim())
            .map_err(|_| invalid("attachment data is not base64"))?;
        if bytes.is_empty() {
            return Err(invalid("empty document"));
        }
        let date = r["context"]["period"]["start"]
            .as_str()
            .and_then(|d| d.get(..10))
            .map(str::to_string);
        // MHD: the description is what a person reads; the attachment's title a file name.
        let title = r["description"]
            .as_str()
            .or(att["title"].as_str())
            .map(str::to_string);
        let file_name = att["title"].as_str().map(str::to_string);
        out.push(Submitted {
            index: i,
            patient,
            bytes,
            title,
            file_name,
            date,
            binary_index,
        });
    }
    if out.is_empty() {
        return Err(invalid("the bundle holds no DocumentReference"));
    }
    Ok(out)
}

async fn transaction(State(s): State<Arc<Fhir>>, body: Bytes) -> Response {
    let bundle: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return invalid("the body is not JSON"),
    };
    let docs = match submitted(&s.shared.rules, &bundle) {
        Ok(d) => d,
        Err(r) => {
            s.shared.refused(Source::Fhir, "invalid-bundle");
            return r;
        }
    };
    let incoming = docs
        .iter()
        .map(|d| {
            let mut dedupe = d.patient.normalized().into_bytes();
            dedupe.push(0);
            dedupe.extend_from_slice(&Sha256::digest(&d.bytes));
            Incoming {
                kind: Kind::Document,
                envelope: Envelope {
                    header: Header {
                        received_at: now_ms() / 1000,
                        file_name: d
                            .file_name
                            .clone()
                            .or(d.title.clone())
                            .or(Some("document".into())),
                        patient: Some(d.patient.normalized()),
                        title: d.title.clone(),
                        date_of_service: d.date.clone(),
                        ..Default::default()
                    },
                    body: d.bytes.clone(),
                },
                dedupe: Some(dedupe),
            }
        })
        .collect();
    let admissions = match s.shared.accept(Source::Fhir, incoming).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "fhir: the queue failed");
            return outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the gateway could not store the documents: retry later",
            );
        }
    };
    if admissions.contains(&Admission::Full) {
        let mut r = outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "the gateway's queue is full: retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return r;
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let mut responses: Vec<Value> = entries
        .iter()
        .map(|e| {
            let status = if e["resource"]["resourceType"] == "Patient" {
                "200 OK"
            } else {
                "201 Created"
            };
            json!({"response": {"status": status}})
        })
        .collect();
    for (d, a) in docs.iter().zip(&admissions) {
        let Admission::Accepted { id, .. } = a else {
            continue;
        };
        let doc_id = match s.shared.queue.document_id(*id).await {
            Ok(Some(u)) => u.to_string(),
            _ => continue,
        };
        responses[d.index] = json!({"response": {
            "status": "201 Created",
            "location": format!("DocumentReference/{doc_id}"),
        }});
        if let Some(bi) = d.binary_index {
            responses[bi] = json!({"response": {
                "status": "201 Created",
                "location": format!("Binary/{doc_id}"),
            }});
        }
    }
    fhir(
        StatusCode::OK,
        json!({"resourceType": "Bundle", "type": "transaction-response", "entry": responses}),
    )
}
