//! Urgent consults, on-call lists and notification channels for the web app: conversions only
//! over `medshare_client::consults`. Every consult shown is opened by the core (the requester's
//! signed binding checked against the hub's account, the question decrypted here); the hub
//! learns who asks whom, that it is urgent and the window, never the question or the patient's
//! number.

use crate::views::rfc3339;
use crate::{Core, Person, find_patient, invalid, js_error, ts};
use medshare_client::Client;
use medshare_client::consults::{ConsultRequest, OpenedConsult, Recipient};
use medshare_model::consults::{ChannelId, ChannelKind, ChannelView, ConsultTo, PushKeys};
use medshare_model::{ConsultId, DocumentId, PractitionerId};
use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

/// One step of a consult's history, as the hub reports it, its practitioner named by their
/// verified certificate.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ConsultStepView {
    pub at: String,
    /// `requested`, `escalated`, `acknowledged`, `unanswered`, `answered`.
    pub kind: String,
    pub who: String,
}

/// A consult opened and checked by the core.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ConsultDetail {
    pub consult_id: String,
    /// This practitioner asked it (else it reached them).
    pub asked_by_me: bool,
    pub requester: Person,
    /// `open`, `acknowledged`, `unanswered`.
    pub state: String,
    pub urgent: bool,
    pub ack_within_secs: f64,
    /// When the current recipient's window ends (open consults).
    #[tsify(optional)]
    pub due_at: Option<String>,
    pub created_at: String,
    /// Whom it has reached now (verified name), and whether that is this practitioner.
    #[tsify(optional)]
    pub current: Option<String>,
    pub current_is_me: bool,
    /// The on-call list's name when it was asked of a list.
    #[tsify(optional)]
    pub oncall: Option<String>,
    /// Everyone it may reach, in escalation order (verified names).
    pub chain: Vec<String>,
    #[tsify(optional)]
    pub acked_by: Option<String>,
    /// This practitioner acknowledged it (and so may answer it).
    pub acked_by_me: bool,
    /// The room its answer is in.
    #[tsify(optional)]
    pub room_id: Option<String>,
    pub history: Vec<ConsultStepView>,
    /// The question, decrypted on this device.
    pub question: String,
    /// The attached documents (shared with everyone the consult may reach).
    pub documents: Vec<String>,
}

/// A consult the hub listed that did not verify: shown as such, never acted on.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ConsultRefused {
    pub consult_id: String,
    /// The error's kind (`trust`, `crypto`, ...), translated by the app.
    pub kind: String,
}

/// The consults list: opened ones and any the core refused.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ConsultList {
    pub consults: Vec<ConsultDetail>,
    pub refused: Vec<ConsultRefused>,
}

/// A consult to ask.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ConsultAsk {
    /// `HANDLE`, `oncall:NAME` (one's own institution) or `oncall:CODE/NAME`.
    pub to: String,
    /// The patient's number, as typed in search.
    pub identifier: String,
    pub question: String,
    pub documents: Vec<String>,
    pub ack_within_secs: f64,
    pub urgent: bool,
}

/// An on-call list: its members and owner by their verified certificates.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct OncallView {
    pub name: String,
    pub owner: String,
    pub members: Vec<String>,
    /// Unix time after which the list is refused (its signed `valid_until`).
    pub valid_until: i64,
    /// Its validity has ended: shown so the doctor knows it exists, but nobody can be asked
    /// through it until an administrator sets it again.
    pub expired: bool,
}

/// A notification channel with its delivery record (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ChannelInfo {
    pub channel_id: String,
    /// `email`, `webhook`, `dingtalk`, `chat-webhook`, `web-push`.
    pub kind: String,
    pub address: String,
    pub created_at: String,
    #[tsify(optional)]
    pub last_delivered_at: Option<String>,
    #[tsify(optional)]
    pub last_failed_at: Option<String>,
    #[tsify(optional)]
    pub last_error: Option<String>,
    pub failed: f64,
    pub pending: f64,
    /// The destination said it is gone for good: nothing more is sent.
    #[tsify(optional)]
    pub disabled_at: Option<String>,
}

/// A channel added; a webhook's signing secret made by the hub is shown once.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct ChannelAdded {
    pub channel: ChannelInfo,
    #[tsify(optional)]
    pub secret: Option<String>,
}

impl From<&ChannelView> for ChannelInfo {
    fn from(c: &ChannelView) -> Self {
        Self {
            channel_id: c.channel_id.to_string(),
            kind: c.kind.as_str().into(),
            address: c.address.clone(),
            created_at: rfc3339(c.created_at),
            last_delivered_at: c.last_delivered_at.map(rfc3339),
            last_failed_at: c.last_failed_at.map(rfc3339),
            last_error: c.last_error.clone(),
            failed: c.failed as f64,
            pending: c.pending as f64,
            disabled_at: c.disabled_at.map(rfc3339),
        }
    }
}

async fn name(client: &Client, id: PractitionerId) -> String {
    match client.trust().fetch_practitioner(client.hub(), id).await {
        Ok(p) => client.describe(&p),
        Err(_) => "(unverified)".into(),
    }
}

async fn detail(client: &Client, o: &OpenedConsult) -> ConsultDetail {
    let v = &o.view;
    let mut chain = Vec::with_capacity(v.chain.len());
    for id in &v.chain {
        chain.push(name(client, *id).await);
    }
    let mut history = Vec::with_capacity(v.history.len());
    for s in &v.history {
        history.push(ConsultStepView {
            at: rfc3339(s.at),
            kind: s.kind.as_str().into(),
            who: name(client, s.practitioner_id).await,
        });
    }
    let current = match v.current() {
        Some(p) if v.state.as_str() == "open" => Some(p),
        _ => None,
    };
    ConsultDetail {
        consult_id: v.consult_id.to_string(),
        asked_by_me: v.requester == client.id(),
        requester: Person::of(client, &o.requester),
        state: v.state.as_str().into(),
        urgent: v.urgent,
        ack_within_secs: v.ack_within_secs as f64,
        due_at: v.due_at.map(rfc3339),
        created_at: rfc3339(v.created_at),
        current: match current {
            Some(p) => Some(name(client, p).await),
            None => None,
        },
        current_is_me: current == Some(client.id()),
        oncall: match &v.to {
            ConsultTo::Oncall { name, .. } => Some(name.clone()),
            ConsultTo::Practitioner { .. } => None,
        },
        chain,
        acked_by: match v.acked_by {
            Some(p) => Some(name(client, p).await),
            None => None,
        },
        acked_by_me: v.acked_by == Some(client.id()),
        room_id: v.room_id.map(|r| r.to_string()),
        history,
        question: o.question.as_str().to_owned(),
        documents: o.documents.iter().map(ToString::to_string).collect(),
    }
}

fn parse_consult(text: &str) -> Result<ConsultId, JsValue> {
    text.parse().map_err(|_| invalid("not a consult id"))
}

fn parse_channel(text: &str) -> Result<ChannelId, JsValue> {
    text.parse().map_err(|_| invalid("not a channel id"))
}

fn error_kind(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "invalid".into())
}

#[wasm_bindgen]
impl Core {
    /// Consults this practitioner asked or was reached by, newest first, each opened and
    /// checked by the core; one that does not verify is listed as refused.
    pub async fn consults(&self) -> Result<Ts<ConsultList>, JsValue> {
        let client = self.client()?;
        let all = client.consults().await.map_err(js_error)?;
        let mut out = ConsultList {
            consults: Vec::with_capacity(all.len()),
            refused: Vec::new(),
        };
        for v in all {
            match client.open_consult(v.consult_id).await {
                Ok(o) => out.consults.push(detail(&client, &o).await),
                Err(e) => out.refused.push(ConsultRefused {
                    consult_id: v.consult_id.to_string(),
                    kind: error_kind(&js_error(e)),
                }),
            }
        }
        ts(&out)
    }

    /// Ask a consult about the patient with this number: the core verifies everyone it may
    /// reach, shares the attached documents with them and seals the question.
    pub async fn request_consult(&self, ask: Ts<ConsultAsk>) -> Result<String, JsValue> {
        let client = self.client()?;
        let ask = ask
            .to_rust()
            .map_err(|_| invalid("the consult's details are malformed"))?;
        let to: Recipient = ask.to.parse().map_err(js_error)?;
        let documents = ask
            .documents
            .iter()
            .map(|d| d.parse::<DocumentId>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("not a document id"))?;
        if !ask.ack_within_secs.is_finite() || ask.ack_within_secs < 1.0 {
            return Err(invalid("the acknowledgement window must be in the future"));
        }
        let patient = find_patient(&client, &ask.identifier).await?;
        let view = client
            .request_consult(
                &patient,
                &ConsultRequest {
                    to,
                    question: ask.question,
                    documents,
                    ack_within_secs: ask.ack_within_secs as i64,
                    urgent: ask.urgent,
                },
            )
            .await
            .map_err(js_error)?;
        Ok(view.consult_id.to_string())
    }

    /// Open one consult (checked, question decrypted).
    pub async fn consult(&self, consult_id: String) -> Result<Ts<ConsultDetail>, JsValue> {
        let client = self.client()?;
        let o = client
            .open_consult(parse_consult(&consult_id)?)
            .await
            .map_err(js_error)?;
        ts(&detail(&client, &o).await)
    }

    /// Acknowledge a consult that reached this practitioner: it stops escalating.
    pub async fn ack_consult(&self, consult_id: String) -> Result<Ts<ConsultDetail>, JsValue> {
        let client = self.client()?;
        let o = client
            .ack_consult(parse_consult(&consult_id)?)
            .await
            .map_err(js_error)?;
        ts(&detail(&client, &o).await)
    }

    /// Answer an acknowledged consult in a new room with the requester; resolves to the room.
    pub async fn answer_consult(
        &self,
        consult_id: String,
        text: String,
    ) -> Result<String, JsValue> {
        let client = self.client()?;
        let id = parse_consult(&consult_id)?;
        let keys = self.room_keys()?;
        let mut keys = keys.lock().await;
        let room = client
            .answer_consult(&mut keys, id, &text)
            .await
            .map_err(js_error)?;
        Ok(room.to_string())
    }

    /// An institution's on-call lists (`institution`: its code; none for one's own), each
    /// verified against the institution's signature, the usable ones first, then those whose
    /// validity ended (`expired`); lists not signed yet are left out (nobody can ask a consult
    /// of them until an administrator signs them).
    pub async fn oncall_lists(
        &self,
        institution: Option<String>,
    ) -> Result<Vec<Ts<OncallView>>, JsValue> {
        let client = self.client()?;
        let lists = client
            .oncall_lists(institution.as_deref().filter(|c| !c.trim().is_empty()))
            .await
            .map_err(js_error)?;
        let mut out = Vec::with_capacity(lists.verified.len() + lists.expired.len());
        let usable = lists.verified.iter().map(|v| (&v.list, false));
        for (l, expired) in usable.chain(lists.expired.iter().map(|v| (&v.list, true))) {
            let mut members = Vec::with_capacity(l.members.len());
            for m in &l.members {
                members.push(name(&client, *m).await);
            }
            out.push(ts(&OncallView {
                name: l.name.clone(),
                owner: name(&client, l.owner).await,
                members,
                valid_until: l.expires_at(),
                expired,
            })?);
        }
        Ok(out)
    }

    /// This practitioner's notification channels, with deliveries and failures.
    pub async fn notify_channels(&self) -> Result<Vec<Ts<ChannelInfo>>, JsValue> {
        let client = self.client()?;
        let list = client.notify_channels().await.map_err(js_error)?;
        list.iter().map(|c| ts(&ChannelInfo::from(c))).collect()
    }

    /// Add an e-mail, webhook, DingTalk or chat-webhook channel.
    pub async fn add_notify_channel(
        &self,
        kind: String,
        address: String,
        secret: Option<String>,
    ) -> Result<Ts<ChannelAdded>, JsValue> {
        let client = self.client()?;
        let kind = ChannelKind::parse(&kind)
            .filter(|k| *k != ChannelKind::WebPush)
            .ok_or_else(|| invalid("not a channel kind"))?;
        let made = client
            .add_notify_channel(
                kind,
                address.trim(),
                secret.filter(|s| !s.trim().is_empty()),
            )
            .await
            .map_err(js_error)?;
        ts(&ChannelAdded {
            channel: ChannelInfo::from(&made.channel),
            secret: made.secret,
        })
    }

    /// The hub's VAPID public key (base64url), for `pushManager.subscribe`.
    pub async fn vapid_key(&self) -> Result<String, JsValue> {
        self.client()?.vapid_key().await.map_err(js_error)
    }

    /// Add this browser's push subscription (`PushSubscription.toJSON()`'s endpoint and keys).
    pub async fn add_push_channel(
        &self,
        endpoint: String,
        p256dh: String,
        auth: String,
    ) -> Result<Ts<ChannelInfo>, JsValue> {
        let client = self.client()?;
        let made = client
            .add_push_channel(&endpoint, PushKeys { p256dh, auth })
            .await
            .map_err(js_error)?;
        ts(&ChannelInfo::from(&made.channel))
    }

    /// Remove one of this practitioner's channels.
    pub async fn remove_notify_channel(&self, channel_id: String) -> Result<(), JsValue> {
        let client = self.client()?;
        client
            .remove_notify_channel(parse_channel(&channel_id)?)
            .await
            .map_err(js_error)
    }

    /// Queue a test notification on one channel (the fixed text and a link).
    pub async fn test_notify_channel(&self, channel_id: String) -> Result<(), JsValue> {
        let client = self.client()?;
        client
            .test_notify_channel(parse_channel(&channel_id)?)
            .await
            .map_err(js_error)
    }
}
