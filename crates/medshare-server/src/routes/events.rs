//! Notifications: the stored inbox and the live Server-Sent Events stream.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, at};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use medshare_model::api::{Event, EventKind};
use serde::Deserialize;
use std::convert::Infallible;

/// `?since=SEQ`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct Since {
    /// Return events after this sequence number.
    pub since: Option<i64>,
}

async fn backlog(s: &AppState, caller: &Caller, since: i64) -> ApiResult<Vec<Event>> {
    let rows = s.store.events_since(caller.id(), since, 500).await?;
    rows.into_iter()
        .map(|r| {
            let event: EventKind =
                serde_json::from_str(&r.body).map_err(|_| ApiError::internal())?;
            Ok(Event {
                seq: r.seq,
                at: at(r.at),
                event,
            })
        })
        .collect()
}

/// Stored notifications after `since`.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("bearer" = [])), params(Since), responses((status = 200, body = Vec<Event>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<Since>,
) -> ApiResult<Json<Vec<Event>>> {
    Ok(Json(backlog(&s, &caller, q.since.unwrap_or(0)).await?))
}

fn sse(e: &Event) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default()
        .id(e.seq.to_string())
        .event("medshare")
        .data(serde_json::to_string(e).unwrap_or_default()))
}

/// One message of the event stream as Server-Sent Events carry it.
#[derive(utoipa::ToSchema)]
#[schema(as = StreamMessage)]
#[allow(dead_code)] // documents the wire format; the stream is written by axum's `Sse`
pub struct StreamMessage {
    /// The event's sequence number (send it back as `Last-Event-ID` to resume).
    id: String,
    /// Always `medshare`.
    event: String,
    /// The event, as the JSON of an `Event`.
    data: String,
}

/// Live notifications (Server-Sent Events); resumes after `Last-Event-ID` or `since`.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events", security(("bearer" = [])), params(Since), responses((status = 200, content_type = "text/event-stream", body = StreamMessage, description = "A stream of messages, each one `Event`")))]
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(q.since)
        .unwrap_or(0);
    // Subscribe before reading the backlog so nothing falls between the two.
    let me = caller.id();
    let live = tokio_stream::wrappers::BroadcastStream::new(s.notifier.subscribe(me));
    let old = backlog(&s, &caller, last).await?;
    // Live events already sent as backlog are skipped by sequence number, not by "greater
    // than the last one": with PostgreSQL, concurrent inserts may commit out of sequence order,
    // and an event committed late with a lower number must still reach the stream.
    let sent: std::collections::HashSet<i64> = old.iter().map(|e| e.seq).collect();
    // A stream that fell too far behind ends rather than skip events: its client reconnects
    // with the last sequence number it saw and the store has the rest.
    let live = live
        .take_while(|m| std::future::ready(m.is_ok()))
        .filter_map(move |m| {
            let fresh = match m {
                Ok(e) if !sent.contains(&e.seq) => Some(sse(&e)),
                _ => None,
            };
            async move { fresh }
        });
    // A comment first, so the response (and its headers) reach the client at once.
    let hello = std::iter::once(Ok(SseEvent::default().comment("medshare events")));
    let stream =
        futures::stream::iter(hello.chain(old.iter().map(sse)).collect::<Vec<_>>()).chain(live);
    // The stream ends on shutdown, on logout or removal (at once, on this replica), and when a
    // periodic re-check finds its session gone (logout or removal seen by another replica).
    let ended = s.streams.open(me, &caller.token_hash);
    let guard = ended.clone().drop_guard();
    let stop = {
        let (s, hash, ended) = (s.clone(), caller.token_hash.clone(), ended.clone());
        async move {
            let every = std::time::Duration::from_secs(s.config.auth.stream_recheck_secs.max(1));
            loop {
                tokio::select! {
                    _ = ended.cancelled() => return,
                    _ = s.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if !matches!(crate::auth::session_holder(&s, &hash).await, Ok(Some(_))) {
                    return;
                }
            }
        }
    };
    let stream = stream.take_until(stop).map(move |e| {
        let _ = &guard;
        e
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
