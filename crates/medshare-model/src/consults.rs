//! Urgent consults and on-call lists: request and response bodies. The question travels sealed
//! (an age file to everyone the consult may reach, bound by the requester's signed
//! [`ConsultBinding`](crate::statements::ConsultBinding)); the hub sees who asks whom, about
//! which pseudonymous patient, that it is urgent, and the acknowledgement deadline.

use crate::statements::Signed;
use crate::{ConsultId, InstitutionId, PatientId, PractitionerId, RoomId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What an on-call list's name may be, said to whoever gives another.
pub const LIST_NAME_RULE: &str = "an on-call list name is 1 to 64 characters a-z, 0-9 and -";

/// Whether `name` may name an on-call list ([`LIST_NAME_RULE`]): checked by the hub and by
/// clients alike.
pub fn is_list_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An institution's on-call list (a specialty rota): tried in order, then its owner. The
/// unsigned fields are the hub's account; clients trust only `statement`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OncallList {
    pub institution_id: InstitutionId,
    pub name: String,
    pub owner: PractitionerId,
    pub members: Vec<PractitionerId>,
    /// The signed list's version (0 for a list set before lists were signed).
    #[serde(default)]
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The [`OncallListStatement`](crate::statements::OncallListStatement) signed by the
    /// institution; absent for a list set before lists were signed (clients refuse it until an
    /// administrator signs it again).
    #[serde(default)]
    pub statement: Option<Signed>,
}

/// `PUT /v1/institutions/{id}/oncall/{name}`: set (or replace) an on-call list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OncallListSet {
    /// An [`OncallListStatement`](crate::statements::OncallListStatement) naming this
    /// institution and list, signed with the institution's key, with a version greater than
    /// the stored list's.
    pub statement: Signed,
}

/// Whom a consult is asked of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConsultTo {
    /// A named colleague.
    Practitioner { practitioner_id: PractitionerId },
    /// An institution's on-call list.
    Oncall {
        institution_id: InstitutionId,
        name: String,
    },
}

/// `POST /v1/consults`: ask a consult.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewConsult {
    pub consult_id: ConsultId,
    pub to: ConsultTo,
    /// A [`ConsultBinding`](crate::statements::ConsultBinding) signed by the caller.
    pub binding: Signed,
    /// The sealed question, base64 of an age file.
    pub question: String,
    /// The hub may show and notify it as urgent.
    #[serde(default)]
    pub urgent: bool,
}

/// Where a consult stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConsultState {
    /// Waiting for the current recipient's acknowledgement.
    Open,
    Acknowledged,
    /// Nobody on the chain acknowledged in time (the owner's window passed too).
    Unanswered,
}

impl ConsultState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Unanswered => "unanswered",
        }
    }
}

/// One step of a consult's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConsultStepKind {
    /// Asked of `practitioner_id` (the first recipient).
    Requested,
    /// Escalated to `practitioner_id` after the previous recipient's window passed.
    Escalated,
    /// Acknowledged by `practitioner_id`.
    Acknowledged,
    /// `practitioner_id` (the last on the chain) let the window pass: nobody is left.
    Unanswered,
    /// `practitioner_id` answered in the consult's room.
    Answered,
}

impl ConsultStepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Escalated => "escalated",
            Self::Acknowledged => "acknowledged",
            Self::Unanswered => "unanswered",
            Self::Answered => "answered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Requested,
            Self::Escalated,
            Self::Acknowledged,
            Self::Unanswered,
            Self::Answered,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One step of a consult's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsultStep {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: ConsultStepKind,
    pub practitioner_id: PractitionerId,
}

/// A consult as its requester and the recipients it reached see it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsultView {
    pub consult_id: ConsultId,
    pub requester: PractitionerId,
    pub patient_id: PatientId,
    pub to: ConsultTo,
    /// Everyone it may reach, in escalation order.
    pub chain: Vec<PractitionerId>,
    /// Index in `chain` of the recipient it has reached.
    pub step: i64,
    pub state: ConsultState,
    pub urgent: bool,
    pub ack_within_secs: i64,
    /// When the current recipient's window ends (open consults only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub acked_by: Option<PractitionerId>,
    /// The room its answer is in, once answered.
    pub room_id: Option<RoomId>,
    pub history: Vec<ConsultStep>,
    pub binding: Signed,
    pub question: String,
    /// For a consult to an on-call list: the
    /// [`OncallListStatement`](crate::statements::OncallListStatement) its binding names, as
    /// the institution signed it, so recipients can check the chain and their place on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oncall_list: Option<Signed>,
}

impl ConsultView {
    /// The recipient it has reached.
    pub fn current(&self) -> Option<PractitionerId> {
        usize::try_from(self.step)
            .ok()
            .and_then(|i| self.chain.get(i).copied())
    }
}

/// `POST /v1/consults/{id}/answer`: the answer is in this room (the caller owns it and the
/// requester is a member).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsultAnswer {
    pub room_id: RoomId,
}

/// A notification channel's kind. None carries health information: every notification is the
/// fixed text [`NOTIFICATION_TEXT`] and a link to the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// A generic webhook: JSON POST signed with HMAC-SHA-256 (`X-Medshare-Signature`).
    Webhook,
    /// A DingTalk custom robot (signed-timestamp scheme).
    Dingtalk,
    /// E-mail through the hub's SMTP relay (`[notify.smtp]`).
    Email,
    /// Web Push to a browser's push subscription (RFC 8030 delivery, RFC 8291 message
    /// encryption, RFC 8292 VAPID with the hub's key from `GET /v1/notify/vapid`).
    WebPush,
    /// A Microsoft Teams / Slack-style incoming webhook: JSON `{"text": ...}` POSTed to the
    /// hook's secret URL (incoming webhooks carry no signature; the URL is the credential).
    ChatWebhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Dingtalk => "dingtalk",
            Self::Email => "email",
            Self::WebPush => "web-push",
            Self::ChatWebhook => "chat-webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Webhook,
            Self::Dingtalk,
            Self::Email,
            Self::WebPush,
            Self::ChatWebhook,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A notification channel's id.
pub type ChannelId = uuid::Uuid;

/// The one text a notification carries.
pub const NOTIFICATION_TEXT: &str = "You have an urgent consult in medshare";

/// `POST /v1/notify/channels`: add a channel.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewChannel {
    pub kind: ChannelKind,
    /// The receiver's `https://` URL (DingTalk: the robot's webhook URL with its access token;
    /// e-mail: the address; Web Push: the subscription's endpoint).
    pub address: String,
    /// The signing secret: DingTalk's robot secret (required); for a webhook, absent to have
    /// the hub make one (returned once).
    pub secret: Option<String>,
    /// Web Push only: the subscription's keys (`PushSubscription.toJSON().keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<PushKeys>,
}

/// A browser push subscription's keys, base64url as the Push API gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushKeys {
    /// The user agent's P-256 public key (uncompressed point).
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

/// `GET /v1/notify/vapid`: the hub's VAPID public key, for `pushManager.subscribe`'s
/// `applicationServerKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VapidKey {
    /// Base64url (no padding) of the uncompressed P-256 point.
    pub public_key: String,
}

/// A channel as its owner sees it (never its secret), with its delivery record.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    #[schema(value_type = String, format = Uuid)]
    pub channel_id: ChannelId,
    pub kind: ChannelKind,
    pub address: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_failed_at: Option<OffsetDateTime>,
    /// Why the last attempt failed (a fixed phrase or an HTTP status; never a response body).
    pub last_error: Option<String>,
    /// Notifications given up on after every retry.
    pub failed: i64,
    /// Notifications waiting (retries, or held back by the rate limit).
    pub pending: i64,
    /// When the destination said it is gone for good (a Web Push subscription that expired
    /// or was revoked): nothing more is sent; remove the channel and subscribe again.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
}

/// `POST /v1/notify/channels` answer: the channel and, for a webhook whose secret the hub
/// made, that secret (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelCreated {
    pub channel: ChannelView,
    pub secret: Option<String>,
}
