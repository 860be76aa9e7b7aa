//! Notifications: the stored inbox and the live Server-Sent Events stream.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::session::Client;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use medshare_model::api::Event;

impl Client {
    /// Stored notifications after `since` (a sequence number; 0 for all).
    pub async fn inbox(&self, since: i64) -> Result<Vec<Event>> {
        self.hub.get(&format!("/v1/events?since={since}")).await
    }

    /// Live notifications after `since`, as they happen. The stream ends if the connection
    /// drops; callers reconnect with the last sequence number they saw.
    pub async fn follow(&self, since: i64) -> Result<impl Stream<Item = Result<Event>> + use<>> {
        let res = self
            .hub
            .request(
                reqwest::Method::GET,
                &format!("/v1/events/stream?since={since}"),
            )
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await?;
        let res = Hub::check(res).await?;
        Ok(res
            .bytes_stream()
            .eventsource()
            .filter_map(|item| async move {
                match item {
                    Ok(e) if e.event == "medshare" => {
                        Some(serde_json::from_str::<Event>(&e.data).map_err(|_| {
                            ClientError::Invalid("a malformed notification arrived".into())
                        }))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(ClientError::Invalid(format!(
                        "the notification stream failed: {e}"
                    )))),
                }
            }))
    }
}
