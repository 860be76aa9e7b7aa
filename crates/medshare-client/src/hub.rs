//! The HTTP transport to a hub: JSON calls, streamed uploads and downloads, problem decoding.

use crate::error::{ClientError, Result};
use medshare_model::{ErrorCode, Problem};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A connection to one hub, optionally carrying a session token.
#[derive(Clone)]
pub struct Hub {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Hub {
    /// A hub at `base` (e.g. `https://hub.example:8443`); `ca_pem` adds a trusted CA (self-signed
    /// hospital deployments).
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Self> {
        Ok(Self {
            http: Self::builder(ca_pem)?.build()?,
            base: base.trim_end_matches('/').to_string(),
            token: None,
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("medshare/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|_| ClientError::Invalid("the CA certificate is not valid PEM".into()))?;
            b = b.add_root_certificate(cert);
        }
        Ok(b)
    }

    /// In the browser, fetch uses the browser's own trust store and user agent.
    #[cfg(target_arch = "wasm32")]
    fn builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder> {
        if ca_pem.is_some() {
            return Err(ClientError::Invalid(
                "a browser trusts the certificates its system trusts: install the CA there".into(),
            ));
        }
        Ok(reqwest::Client::builder())
    }

    /// The same hub with a session token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// The hub's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Turn a non-success response into [`ClientError::Api`].
    pub(crate) async fn check(res: Response) -> Result<Response> {
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let body = res.bytes().await.unwrap_or_default();
        let problem = serde_json::from_slice::<Problem>(&body).unwrap_or_else(|_| {
            let code = match status {
                StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
                StatusCode::FORBIDDEN => ErrorCode::Forbidden,
                StatusCode::NOT_FOUND => ErrorCode::NotFound,
                StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                s if s.is_client_error() => ErrorCode::BadRequest,
                _ => ErrorCode::Unavailable,
            };
            Problem::new(code, None)
        });
        Err(ClientError::Api(problem))
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T> {
        let res = Self::check(rb.send().await?).await?;
        Ok(res.json().await?)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send_json(self.request(Method::GET, path)).await
    }

    pub(crate) async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send_json(self.request(Method::POST, path).json(body))
            .await
    }

    pub(crate) async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send_json(self.request(Method::PUT, path).json(body))
            .await
    }

    pub(crate) async fn post_unit<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<()> {
        Self::check(self.request(Method::POST, path).json(body).send().await?).await?;
        Ok(())
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        Self::check(self.request(Method::DELETE, path).send().await?).await?;
        Ok(())
    }
}
