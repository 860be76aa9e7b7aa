//! Every JSON request body of the API, as the hub's handlers read them (`axum::Json`, serde):
//! a body that reads as a type writes back to JSON that reads as the same value. The first
//! byte picks the type, the rest is the body.

use medshare_model::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn roundtrip<T: DeserializeOwned + Serialize>(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let json = serde_json::to_value(&value).expect("a request body serialises");
    let again: T = serde_json::from_value(json.clone()).expect("a written body reads back");
    assert_eq!(
        serde_json::to_value(&again).expect("serialises"),
        json,
        "a request body survives a round trip"
    );
}

/// The request body types, in the order the first input byte picks them.
pub const BODIES: &[(&str, crate::Target)] = &[
    ("BootstrapRequest", roundtrip::<BootstrapRequest>),
    ("RootCommandRequest", roundtrip::<RootCommandRequest>),
    ("NewEnrolment", roundtrip::<NewEnrolment>),
    ("EnrolmentLookup", roundtrip::<EnrolmentLookup>),
    ("RedeemEnrolment", roundtrip::<RedeemEnrolment>),
    ("PreloginRequest", roundtrip::<PreloginRequest>),
    ("LoginRequest", roundtrip::<LoginRequest>),
    ("ServiceLoginRequest", roundtrip::<ServiceLoginRequest>),
    ("CertifyRequest", roundtrip::<CertifyRequest>),
    ("RemoveMemberRequest", roundtrip::<RemoveMemberRequest>),
    ("NewPatient", roundtrip::<NewPatient>),
    ("PatientLookup", roundtrip::<PatientLookup>),
    ("PatientContact", roundtrip::<PatientContact>),
    ("ConsentGrant", roundtrip::<ConsentGrant>),
    ("ConsentRevoke", roundtrip::<ConsentRevoke>),
    ("CareRequest", roundtrip::<CareRequest>),
    ("BreakGlassRequest", roundtrip::<BreakGlassRequest>),
    ("NewGrant", roundtrip::<NewGrant>),
    ("CommitDocument", roundtrip::<CommitDocument>),
    ("SearchRequest", roundtrip::<SearchRequest>),
];

pub fn api_json(data: &[u8]) {
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let (_, f) = BODIES[*pick as usize % BODIES.len()];
    f(body);
}
