//! Notification channels: each practitioner chooses where an urgent consult reaches them (a
//! generic webhook signed with HMAC-SHA-256, a DingTalk custom robot with its signed-timestamp
//! scheme, e-mail through the operator's SMTP relay with `lettre`, Web Push to a browser
//! subscription with [`crate::push`]). Every notification is the fixed [`NOTIFICATION_TEXT`]
//! and a link to the hub: no
//! patient, document, question or consult detail. Delivery goes through an outbox in the
//! database (one row per notification and channel, deduplicated), claimed by one replica at a
//! time, through the SSRF-checked [`Guarded`] client, retried with back-off, held back by a
//! per-recipient rate limit, and given up on after `notify.max_attempts` (shown to the
//! practitioner with the last error).

use super::allow;
use crate::auth::Caller;
use crate::config::SmtpConfig;
use crate::error::{ApiError, ApiResult};
use crate::outbound::Guarded;
use crate::policy::{self, Who};
use crate::state::{AppState, at};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use medshare_model::consults::{
    ChannelCreated, ChannelKind, ChannelView, NOTIFICATION_TEXT, NewChannel,
};
use medshare_model::{ErrorCode, PractitionerId};
use medshare_store::{Attempt, ChannelRow, OutboxRow};
use rand::RngCore;
use sha2::Sha256;

/// Channels one practitioner may have.
pub const MAX_CHANNELS: i64 = 5;
/// Longest address and secret.
const MAX_ADDRESS: usize = 2048;
const MAX_SECRET: usize = 256;
/// Notifications one replica claims per poll.
const CLAIM_BATCH: i64 = 20;
/// A claim older than this is taken over (the claimer died mid-delivery).
const CLAIM_TTL: i64 = 120;

fn view(c: &ChannelRow) -> ApiResult<ChannelView> {
    Ok(ChannelView {
        channel_id: c.id.parse().map_err(|_| ApiError::internal())?,
        kind: ChannelKind::parse(&c.kind).ok_or_else(ApiError::internal)?,
        address: c.address.clone(),
        created_at: at(c.created_at),
        last_delivered_at: c.last_delivered_at.map(at),
        last_failed_at: c.last_failed_at.map(at),
        last_error: c.last_error.clone(),
        failed: c.failed,
        pending: c.pending,
        disabled_at: c.disabled_at.map(at),
    })
}

/// Add a channel for the caller.
pub async fn add(state: &AppState, caller: &Caller, req: NewChannel) -> ApiResult<ChannelCreated> {
    allow(policy::consult_participant(&Who::from(caller)))?;
    if req.address.len() > MAX_ADDRESS {
        return Err(ApiError::bad_request("the address is too long"));
    }
    if req.kind == ChannelKind::Email {
        if state.config.notify.smtp.is_none() {
            return Err(ApiError::bad_request(
                "this hub has no SMTP relay configured ([notify.smtp])",
            ));
        }
        if req.address.parse::<lettre::Address>().is_err() || req.secret.is_some() {
            return Err(ApiError::bad_request(
                "an e-mail channel is one address, without a secret",
            ));
        }
    } else if state.outbound.check_url(&req.address).is_err() {
        return Err(ApiError::bad_request(
            "that address is not allowed: an https:// URL of a public host (see [outbound])",
        ));
    }
    if req.kind == ChannelKind::WebPush {
        let keys = match (&req.keys, &req.secret) {
            (Some(k), None) => k,
            _ => {
                return Err(ApiError::bad_request(
                    "a web-push channel is a subscription's endpoint and keys (p256dh, auth), \
                     without a secret",
                ));
            }
        };
        if keys.p256dh.len() > MAX_SECRET || keys.auth.len() > MAX_SECRET {
            return Err(ApiError::bad_request("the subscription keys are too long"));
        }
        crate::push::Subscription::parse(&keys.p256dh, &keys.auth)
            .map_err(ApiError::bad_request)?;
    } else if req.keys.is_some() {
        return Err(ApiError::bad_request(
            "only a web-push channel has subscription keys",
        ));
    }
    let (secret, made) = match (req.kind, req.secret) {
        (ChannelKind::ChatWebhook, Some(_)) => {
            return Err(ApiError::bad_request(
                "a chat incoming webhook has no secret: its URL is the credential",
            ));
        }
        (_, Some(s)) if s.is_empty() || s.len() > MAX_SECRET => {
            return Err(ApiError::bad_request(
                "a channel secret is 1 to 256 characters",
            ));
        }
        (_, Some(s)) => (s, false),
        (ChannelKind::Webhook, None) => {
            let mut k = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut k);
            (hex::encode(k), true)
        }
        (ChannelKind::Dingtalk, None) => {
            return Err(ApiError::bad_request(
                "a DingTalk robot needs its signing secret (SEC...)",
            ));
        }
        (ChannelKind::Email, None) => (String::new(), false),
        (ChannelKind::ChatWebhook, None) => (String::new(), false),
        (ChannelKind::WebPush, None) => {
            let k = req.keys.as_ref().ok_or_else(ApiError::internal)?;
            (crate::push::store_keys(&k.p256dh, &k.auth), false)
        }
    };
    let row = ChannelRow {
        id: uuid::Uuid::new_v4().to_string(),
        practitioner_id: caller.id(),
        kind: req.kind.as_str().to_string(),
        address: req.address,
        secret: secret.clone(),
        created_at: state.now(),
        last_delivered_at: None,
        last_failed_at: None,
        last_error: None,
        failed: 0,
        pending: 0,
        disabled_at: None,
    };
    state
        .store
        .add_channel(&row, MAX_CHANNELS)
        .await
        .map_err(|e| match e {
            medshare_store::StoreError::Conflict => {
                ApiError::with(ErrorCode::Conflict, "at most 5 notification channels")
            }
            e => e.into(),
        })?;
    Ok(ChannelCreated {
        channel: view(&row)?,
        secret: made.then_some(secret),
    })
}

/// The caller's channels with their delivery record.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<ChannelView>> {
    state
        .store
        .channels_of(caller.id())
        .await?
        .iter()
        .map(view)
        .collect()
}

async fn own(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<ChannelRow> {
    match state.store.channel(&id.to_string()).await? {
        Some(c) if c.practitioner_id == caller.id() => Ok(c),
        _ => Err(ApiError::with(ErrorCode::NotFound, "no such channel")),
    }
}

/// Remove one of the caller's channels (and what it had waiting).
pub async fn remove(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    own(state, caller, id).await?;
    state
        .store
        .remove_channel(caller.id(), &id.to_string())
        .await?;
    Ok(())
}

/// Queue a test notification on one of the caller's channels.
pub async fn test(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    let c = own(state, caller, id).await?;
    if c.disabled_at.is_some() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "this channel's destination is gone: remove it and add it again",
        ));
    }
    state
        .store
        .enqueue_notification(
            caller.id(),
            Some(&c.id),
            &format!("test:{}", uuid::Uuid::new_v4()),
            state.now(),
        )
        .await?;
    Ok(())
}

/// Queue a notification to every channel of `to`, once per `dedupe` key. A failure is logged:
/// a notification never undoes the action it reports.
pub async fn notify(state: &AppState, to: PractitionerId, dedupe: &str) {
    if let Err(e) = state
        .store
        .enqueue_notification(to, None, dedupe, state.now())
        .await
    {
        tracing::error!(error = %e, "could not queue a notification");
    }
}

fn link(state: &AppState) -> String {
    if state.config.notify.link.is_empty() {
        format!("https://{}/", state.config.listen)
    } else {
        state.config.notify.link.clone()
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// Send one e-mail through the operator's relay.
async fn send_mail(smtp: &SmtpConfig, to: &str, link: &str) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let from = smtp
        .from
        .parse()
        .map_err(|_| "the hub's sender address is invalid".to_string())?;
    let to = to
        .parse()
        .map_err(|_| "the address is invalid".to_string())?;
    let mail = Message::builder()
        .from(from)
        .to(to)
        .subject("medshare")
        .body(format!("{NOTIFICATION_TEXT}.\n\n{link}\n"))
        .map_err(|_| "could not build the message".to_string())?;
    let loopback = matches!(smtp.host.as_str(), "127.0.0.1" | "::1" | "localhost");
    if !smtp.starttls && !loopback {
        return Err("plain-text SMTP is allowed to a loopback relay only".to_string());
    }
    let mut builder = if smtp.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|_| "the SMTP relay name is invalid".to_string())?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
    }
    .port(smtp.port)
    .timeout(Some(std::time::Duration::from_secs(20)));
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            u.clone(),
            p.clone(),
        ));
    }
    builder
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|e| match e.status() {
            Some(code) => format!("SMTP {code}"),
            None => "the SMTP relay could not be reached".to_string(),
        })
}

/// One delivery attempt; `Err` is the phrase recorded as the channel's last error.
async fn send(
    smtp: Option<&SmtpConfig>,
    http: &Guarded,
    c: &ChannelRow,
    n: &OutboxRow,
    link: &str,
    now: i64,
) -> Result<(), String> {
    let outbound = |e: crate::outbound::OutboundError| match e {
        crate::outbound::OutboundError::Refused(_) => "destination not allowed".to_string(),
        crate::outbound::OutboundError::Http(_) => "connection failed".to_string(),
    };
    match ChannelKind::parse(&c.kind) {
        Some(ChannelKind::Webhook) => {
            let body = serde_json::to_vec(&serde_json::json!({
                "type": "medshare.notification",
                "notification_id": n.id,
                "text": NOTIFICATION_TEXT,
                "link": link,
            }))
            .map_err(|_| "could not encode".to_string())?;
            let mut signed = format!("{now}.").into_bytes();
            signed.extend_from_slice(&body);
            let sig = hex::encode(hmac_sha256(c.secret.as_bytes(), &signed));
            let r = http
                .post_bytes(
                    &c.address,
                    body,
                    &[
                        ("x-medshare-timestamp", now.to_string()),
                        ("x-medshare-signature", format!("v1={sig}")),
                    ],
                )
                .await
                .map_err(outbound)?;
            if r.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", r.status().as_u16()))
            }
        }
        Some(ChannelKind::Dingtalk) => {
            // DingTalk: sign "timestamp\nsecret" with the secret, base64, URL-encoded.
            let ms = now * 1000;
            let sign = B64.encode(hmac_sha256(
                c.secret.as_bytes(),
                format!("{ms}\n{}", c.secret).as_bytes(),
            ));
            let sign: String = url::form_urlencoded::byte_serialize(sign.as_bytes()).collect();
            let sep = if c.address.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}timestamp={ms}&sign={sign}", c.address);
            let body = serde_json::to_vec(&serde_json::json!({
                "msgtype": "text",
                "text": { "content": format!("{NOTIFICATION_TEXT}: {link}") },
            }))
            .map_err(|_| "could not encode".to_string())?;
            let r = http.post_bytes(&url, body, &[]).await.map_err(outbound)?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status().as_u16()));
            }
            // The robot answers 200 with {"errcode": N}; only 0 is delivered.
            let v: serde_json::Value = r
                .json()
                .await
                .map_err(|_| "the robot's answer is not JSON".to_string())?;
            match v.get("errcode").and_then(|e| e.as_i64()) {
                Some(0) => Ok(()),
                Some(code) => Err(format!("the robot answered errcode {code}")),
                None => Err("the robot's answer has no errcode".to_string()),
            }
        }
        Some(ChannelKind::Email) => match smtp {
            Some(smtp) => send_mail(smtp, &c.address, link).await,
            None => Err("this hub has no SMTP relay configured".to_string()),
        },
        Some(ChannelKind::WebPush | ChannelKind::ChatWebhook) => {
            Err("sent by send_push / send_chat".to_string())
        }
        None => Err("unknown channel kind".to_string()),
    }
}

/// Why a delivery attempt failed.
enum Failure {
    /// Try again later (the phrase is recorded as the channel's last error).
    Retry(String),
    /// The destination is gone for good: disable the channel.
    Gone(String),
}

/// A Teams/Slack-style incoming webhook: `{"text": "<fixed text>: <link>"}`. Slack answers
/// `200 ok`, Teams workflows `202`; a hook that was deleted or whose channel was archived
/// answers 404/410 and is disabled.
async fn send_chat(http: &Guarded, c: &ChannelRow, link: &str) -> Result<(), Failure> {
    let body = serde_json::to_vec(&serde_json::json!({
        "text": format!("{NOTIFICATION_TEXT}: {link}"),
    }))
    .map_err(|_| Failure::Retry("could not encode".to_string()))?;
    let r = http
        .post_bytes(&c.address, body, &[])
        .await
        .map_err(outbound_failure)?;
    match r.status().as_u16() {
        200..=299 => Ok(()),
        code @ (404 | 410) => Err(Failure::Gone(format!(
            "HTTP {code}: the incoming webhook is gone; add it again"
        ))),
        code => Err(Failure::Retry(format!("HTTP {code}"))),
    }
}

fn outbound_failure(e: crate::outbound::OutboundError) -> Failure {
    Failure::Retry(
        match e {
            crate::outbound::OutboundError::Refused(_) => "destination not allowed",
            crate::outbound::OutboundError::Http(_) => "connection failed",
        }
        .to_string(),
    )
}

/// One Web Push (RFC 8030) delivery: the fixed text and link, encrypted to the subscription
/// (RFC 8291), signed with the hub's VAPID key (RFC 8292), urgent, kept by the push service
/// for [`crate::push::TTL_SECS`].
async fn send_push(
    state: &AppState,
    http: &Guarded,
    c: &ChannelRow,
    link: &str,
    now: i64,
) -> Result<(), Failure> {
    let sub =
        crate::push::stored_subscription(&c.secret).map_err(|e| Failure::Gone(e.to_string()))?;
    let endpoint = state
        .outbound
        .check_url(&c.address)
        .map_err(|_| Failure::Retry("destination not allowed".to_string()))?;
    let payload = serde_json::to_vec(&serde_json::json!({
        "title": "medshare",
        "body": NOTIFICATION_TEXT,
        "link": link,
    }))
    .map_err(|_| Failure::Retry("could not encode".to_string()))?;
    let body = sub
        .encrypt(&payload)
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let subject = if state.config.notify.vapid_subject.is_empty() {
        link
    } else {
        &state.config.notify.vapid_subject
    };
    let r = http
        .post_typed(
            endpoint.as_str(),
            "application/octet-stream",
            body,
            &[
                ("content-encoding", "aes128gcm".to_string()),
                ("ttl", crate::push::TTL_SECS.to_string()),
                ("urgency", "high".to_string()),
                (
                    "authorization",
                    state.vapid.authorization(&endpoint, subject, now),
                ),
            ],
        )
        .await
        .map_err(outbound_failure)?;
    match r.status().as_u16() {
        200..=299 => Ok(()),
        // RFC 8030 §7.3 / push services: the subscription expired or was unsubscribed.
        code @ (404 | 410) => Err(Failure::Gone(format!(
            "HTTP {code}: the push subscription is gone; subscribe again"
        ))),
        code => Err(Failure::Retry(format!("HTTP {code}"))),
    }
}

/// Deliver what is due, as `replica`. Returns how many were attempted.
pub async fn deliver_due(state: &AppState, http: &Guarded, replica: &str) -> ApiResult<usize> {
    let now = state.now();
    let due = state
        .store
        .claim_notifications(replica, now, now - CLAIM_TTL, CLAIM_BATCH)
        .await?;
    let link = link(state);
    let mut tried = 0;
    let mut due = due.into_iter();
    while let Some(n) = due.next() {
        let (id, mut attempted) = (n.id, false);
        if let Err(e) =
            deliver_one(state, http, replica, n, &link, &mut attempted, &mut tried).await
        {
            // A database error part-way: the rest of the batch (and this one, unless it was
            // already attempted) is released for the next poll, not held for CLAIM_TTL.
            let unsent = (!attempted).then_some(id);
            for id in unsent.into_iter().chain(due.map(|n| n.id)) {
                if let Err(e) = state.store.release_notification(id, replica).await {
                    tracing::warn!(error = ?e, "could not release a notification claim");
                }
            }
            return Err(e);
        }
    }
    Ok(tried)
}

/// One claimed notification: rate limit, attempt, record. `attempted` is set once it was sent
/// (or tried), so a failure afterwards does not release it to be sent again at once.
async fn deliver_one(
    state: &AppState,
    http: &Guarded,
    replica: &str,
    n: medshare_store::OutboxRow,
    link: &str,
    attempted: &mut bool,
    tried: &mut usize,
) -> ApiResult<()> {
    let cfg = &state.config.notify;
    let Some(c) = state.store.channel(&n.channel_id).await? else {
        return Ok(());
    };
    let now = state.now();
    let sent = state
        .store
        .delivered_since(n.practitioner_id, now - 60)
        .await?;
    let outcome = if sent >= cfg.per_minute {
        Attempt::Postponed { next_at: now + 60 }
    } else {
        *tried += 1;
        *attempted = true;
        let result = if c.kind == ChannelKind::WebPush.as_str() {
            send_push(state, http, &c, link, now).await
        } else if c.kind == ChannelKind::ChatWebhook.as_str() {
            send_chat(http, &c, link).await
        } else {
            send(cfg.smtp.as_ref(), http, &c, &n, link, now)
                .await
                .map_err(Failure::Retry)
        };
        match result {
            Ok(()) => Attempt::Delivered,
            Err(Failure::Gone(error)) => {
                tracing::warn!(kind = %c.kind, "a notification channel is gone; disabled");
                Attempt::Gone { error }
            }
            Err(Failure::Retry(error)) if n.attempts + 1 >= cfg.max_attempts => {
                tracing::warn!(kind = %c.kind, "a notification was given up on");
                Attempt::Failed { error }
            }
            Err(Failure::Retry(error)) => {
                // 15 s, 30 s, 1 min ... capped at 1 h.
                let backoff = (15i64 << n.attempts.clamp(0, 8)).min(3600);
                Attempt::Retry {
                    next_at: now + backoff,
                    error,
                }
            }
        }
    };
    crate::metrics::notification_attempt(
        ChannelKind::parse(&c.kind).map_or("unknown", ChannelKind::as_str),
        match &outcome {
            Attempt::Delivered => "delivered",
            Attempt::Retry { .. } => "retry",
            Attempt::Failed { .. } => "failed",
            Attempt::Gone { .. } => "gone",
            Attempt::Postponed { .. } => "postponed",
        },
    );
    state
        .store
        .finish_notification(n.id, replica, now, &outcome)
        .await?;
    Ok(())
}

/// Deliver notifications on this replica until the hub shuts down.
pub fn spawn(state: AppState) -> anyhow::Result<()> {
    let http = state.outbound.client(std::time::Duration::from_secs(10))?;
    let every = std::time::Duration::from_millis(state.config.notify.poll_ms.max(50));
    let replica = format!("replica-{}", uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = deliver_due(&state, &http, &replica).await {
                tracing::error!(error = ?e, "could not deliver notifications");
            }
        }
    });
    Ok(())
}
