//! A malicious hub for tests: a proxy on a loopback port that forwards a real client's requests
//! to a real hub and puts every exchange under the attacker's control. Rules rewrite responses
//! (substitute certificates, epochs, lists, identifiers), drop or reorder entries, replay an
//! earlier answer, rewrite requests, and every request the client sends is captured, so a test
//! can play "the hub plus one insider" against any client feature.
//!
//! ```no_run
//! # async fn demo(real_hub_url: &str) -> anyhow::Result<()> {
//! use medshare_hostile::{HostileHub, Method};
//! let evil = HostileHub::start(real_hub_url).await?;
//! // Answer every lookup of dr.wong with someone else's (genuinely certified) record.
//! let other: serde_json::Value = serde_json::json!({"handle": "dr.evil"});
//! evil.rewrite_json(Method::GET, "/v1/practitioners/by-handle/dr.wong", move |v| *v = other.clone());
//! // ... point a client at evil.url, act, then inspect evil.captured("/v1/documents") ...
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures::TryStreamExt;
pub use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Request bodies above this are forwarded but captured only up to it.
const CAPTURE_LIMIT: usize = 64 * 1024 * 1024;

/// One request and the answer the client got.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Request method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Request headers as the client sent them.
    pub request_headers: HeaderMap,
    /// Request body (up to the capture limit).
    pub request: Bytes,
    /// Status the client received (after any rewriting).
    pub status: StatusCode,
    /// Response headers the client received.
    pub headers: HeaderMap,
    /// Response body the client received (after any rewriting).
    pub body: Bytes,
}

impl Exchange {
    /// The response body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The request body as JSON (`Null` if it is not JSON).
    pub fn request_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.request).unwrap_or(serde_json::Value::Null)
    }

    /// Replace the response body with JSON.
    pub fn set_json(&mut self, v: &serde_json::Value) {
        self.body = Bytes::from(serde_json::to_vec(v).expect("JSON values serialise"));
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            "application/json".parse().expect("static"),
        );
    }
}

/// Where a rule applies: method and path; `*` in the pattern matches one path segment, a
/// trailing `**` any rest.
#[derive(Clone, Debug)]
struct Matcher {
    method: Option<Method>,
    pattern: String,
}

impl Matcher {
    fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let mut want = self.pattern.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (Some("**"), _) => return true,
                (Some("*"), Some(_)) => {}
                (Some(w), Some(g)) if w == g => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

type RequestRule = Box<dyn Fn(&mut Exchange) + Send + Sync>;
type ResponseRule = Box<dyn Fn(&mut Exchange) + Send + Sync>;

struct Rule {
    id: u64,
    matcher: Matcher,
    on_request: Option<RequestRule>,
    on_response: Option<ResponseRule>,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
    next_id: Mutex<u64>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    shared: Arc<Shared>,
}

/// A rule installed on a [`HostileHub`]; [`HostileHub::remove`] takes it out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleId(u64);

/// The malicious hub: a proxy to a real hub, listening on 127.0.0.1.
pub struct HostileHub {
    /// Point clients here.
    pub url: String,
    upstream: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl HostileHub {
    /// Start a proxy to `upstream` (e.g. a sandbox hub's URL); ready when this returns.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the hostile hub's port")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().build()?,
            shared: shared.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            url: format!("http://{addr}"),
            upstream: upstream.trim_end_matches('/').to_string(),
            shared,
            stop: Some(stop),
        })
    }

    /// The real hub behind the proxy.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    fn add(
        &self,
        method: Option<Method>,
        pattern: &str,
        on_request: Option<RequestRule>,
        on_response: Option<ResponseRule>,
    ) -> RuleId {
        let mut n = self.shared.next_id.lock().expect("poisoned");
        *n += 1;
        let id = *n;
        self.shared.rules.lock().expect("poisoned").push(Rule {
            id,
            matcher: Matcher {
                method,
                pattern: pattern.to_string(),
            },
            on_request,
            on_response,
        });
        RuleId(id)
    }

    /// Rewrite the answer to matching requests (status, headers, body: anything).
    pub fn rewrite(
        &self,
        method: Method,
        pattern: &str,
        f: impl Fn(&mut Exchange) + Send + Sync + 'static,
    ) -> RuleId {
        self.add(Some(method), pattern, None, Some(Box::new(f)))
    }

    /// Rewrite the JSON body of successful answers to matching requests.
    pub fn rewrite_json(
        &self,
        method: Method,
        pattern: &str,
        f: impl Fn(&mut serde_json::Value) + Send + Sync + 'static,
    ) -> RuleId {
        self.rewrite(method, pattern, move |x| {
            if !x.status.is_success() {
                return;
            }
            let mut v = x.json();
            if v.is_null() {
                return;
            }
            f(&mut v);
            x.set_json(&v);
        })
    }

    /// Rewrite matching requests before they reach the real hub (path, query, body).
    pub fn rewrite_request(
        &self,
        method: Method,
        pattern: &str,
        f: impl Fn(&mut Exchange) + Send + Sync + 'static,
    ) -> RuleId {
        self.add(Some(method), pattern, Some(Box::new(f)), None)
    }

    /// Answer matching requests with an earlier answer (a replay), whatever the hub says now.
    pub fn replay(&self, earlier: &Exchange) -> RuleId {
        let old = earlier.clone();
        self.rewrite(earlier.method.clone(), &earlier.path, move |x| {
            x.status = old.status;
            x.headers = old.headers.clone();
            x.body = old.body.clone();
        })
    }

    /// Take a rule out.
    pub fn remove(&self, id: RuleId) {
        self.shared
            .rules
            .lock()
            .expect("poisoned")
            .retain(|r| r.id != id.0);
    }

    /// Take every rule out: an honest proxy again.
    pub fn clear(&self) {
        self.shared.rules.lock().expect("poisoned").clear();
    }

    /// Every exchange so far whose path matches `pattern` (as the client saw it: after rules).
    pub fn captured(&self, pattern: &str) -> Vec<Exchange> {
        let m = Matcher {
            method: None,
            pattern: pattern.to_string(),
        };
        self.shared
            .log
            .lock()
            .expect("poisoned")
            .iter()
            .filter(|x| m.matches(&x.method, &x.path))
            .cloned()
            .collect()
    }

    /// The most recent exchange matching `method` and `pattern`.
    pub fn last(&self, method: Method, pattern: &str) -> Option<Exchange> {
        self.captured(pattern)
            .into_iter()
            .rev()
            .find(|x| x.method == method)
    }

    /// Forget the capture log.
    pub fn forget(&self) {
        self.shared.log.lock().expect("poisoned").clear();
    }
}

impl Drop for HostileHub {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade" | "host"
    ) || name == reqwest::header::CONTENT_LENGTH
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    match forward_inner(p, req).await {
        Ok(r) => r,
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("hostile hub: {e:#}")))
            .expect("static response"),
    }
}

async fn forward_inner(p: Proxy, req: Request) -> anyhow::Result<Response> {
    let (parts, body) = req.into_parts();
    let request = axum::body::to_bytes(body, CAPTURE_LIMIT)
        .await
        .context("request body")?;
    let mut x = Exchange {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        request_headers: parts.headers.clone(),
        request,
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    };
    // Matching rules, in the order they were installed.
    let applicable: Vec<u64> = p
        .shared
        .rules
        .lock()
        .expect("poisoned")
        .iter()
        .filter(|r| r.matcher.matches(&x.method, &x.path))
        .map(|r| r.id)
        .collect();
    with_rules(&p, &applicable, |r| {
        if let Some(f) = &r.on_request {
            f(&mut x)
        }
    });
    let url = match &x.query {
        Some(q) => format!("{}{}?{q}", p.upstream, x.path),
        None => format!("{}{}", p.upstream, x.path),
    };
    let mut rb = p.http.request(x.method.clone(), url);
    for (k, v) in &x.request_headers {
        if !hop_by_hop(k) {
            rb = rb.header(k, v);
        }
    }
    let res = rb
        .body(x.request.clone())
        .send()
        .await
        .context("upstream")?;
    x.status = res.status();
    x.headers = res.headers().clone();
    let streaming = x
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streaming && applicable.is_empty() {
        // Live event streams pass through as they come (they never end).
        p.shared.log.lock().expect("poisoned").push(x.clone());
        let mut b = Response::builder().status(x.status);
        for (k, v) in &x.headers {
            if !hop_by_hop(k) {
                b = b.header(k, v);
            }
        }
        let stream = res.bytes_stream().map_err(std::io::Error::other);
        return Ok(b.body(Body::from_stream(stream))?);
    }
    x.body = res.bytes().await.context("upstream body")?;
    with_rules(&p, &applicable, |r| {
        if let Some(f) = &r.on_response {
            f(&mut x)
        }
    });
    p.shared.log.lock().expect("poisoned").push(x.clone());
    let mut b = Response::builder().status(x.status);
    for (k, v) in &x.headers {
        if !hop_by_hop(k) {
            b = b.header(k, v);
        }
    }
    Ok(b.body(Body::from(x.body))?)
}

fn with_rules(p: &Proxy, ids: &[u64], mut f: impl FnMut(&Rule)) {
    let rules = p.shared.rules.lock().expect("poisoned");
    for r in rules.iter().filter(|r| ids.contains(&r.id)) {
        f(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments() {
        let m = |p: &str| Matcher {
            method: None,
            pattern: p.into(),
        };
        assert!(m("/v1/documents/*").matches(&Method::GET, "/v1/documents/abc"));
        assert!(!m("/v1/documents/*").matches(&Method::GET, "/v1/documents/abc/content"));
        assert!(m("/v1/documents/**").matches(&Method::GET, "/v1/documents/abc/content"));
        assert!(!m("/v1/search").matches(&Method::GET, "/v1/searches"));
        let post = Matcher {
            method: Some(Method::POST),
            pattern: "/v1/search".into(),
        };
        assert!(!post.matches(&Method::GET, "/v1/search"));
    }
}
