//! The two TLS listeners (ARM and the token authority) and the path of one ARM request through
//! latency, authorization, throttling, fault injection, the handlers and the common headers.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::faults::{Class, Draw, Spend};
use crate::handlers::{self, ArmRequest};
use crate::reply::Reply;
use crate::stats::RequestRecord;
use crate::store::State;
use crate::{control, token};

/// The state shared by every connection.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the state; a panic elsewhere must not wedge the fake.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Returned by a service to make hyper close the connection without answering.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

/// Which listener.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Endpoint {
    Arm,
    Token,
}

const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_RECORDS: usize = 100_000;

/// Accepts connections until `shutdown` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Shared,
    endpoint: Endpoint,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let tls = tls.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move {
                    match endpoint {
                        Endpoint::Arm => arm(shared, req).await,
                        Endpoint::Token => Ok(token(shared, req).await),
                    }
                }
            });
            // Errors here are clients going away or injected closes; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn read_body(body: Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let body = reply
        .body
        .as_ref()
        .map(|b| Bytes::from(b.to_string()))
        .unwrap_or_default();
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    if reply.body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(name, value);
        }
    }
    resp
}

fn record(st: &mut State, method: &str, uri: &str, status: u16, outcome: &str) {
    if st.requests.len() >= MAX_RECORDS {
        st.requests.drain(..MAX_RECORDS / 10);
    }
    st.requests.push(RequestRecord {
        method: method.to_string(),
        uri: uri.to_string(),
        status,
        outcome: outcome.to_string(),
    });
}

/// The subscription a path names, for throttling messages.
fn subscription_of(path: &str) -> String {
    let segs = crate::path::segments(path);
    match segs.as_slice() {
        [s, sub, ..] if s.eq_ignore_ascii_case("subscriptions") => sub.clone(),
        _ => String::new(),
    }
}

async fn arm(
    shared: Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let method = req.method().as_str().to_string();
    let uri = req.uri().clone();
    let path = uri.path().to_string();
    let uri_text = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| path.clone());
    let headers = req.headers().clone();
    let Some(body) = read_body(req.into_body()).await else {
        return Ok(to_response(Reply::from(crate::ArmError::new(
            413,
            "RequestEntityTooLarge",
            "The request body is too large.",
        ))));
    };
    let query = query_pairs(uri.query());

    if path == "/_fake" || path.starts_with("/_fake/") {
        return Ok(to_response(control::handle(
            &shared, &method, &path, &query, &body,
        )));
    }

    let latency = lock(&shared).timing.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut st = lock(&shared);
    let now = Instant::now();
    st.advance(now);
    st.stats.requests += 1;
    *st.stats
        .by_operation
        .entry(handlers::operation_name(&method, &path))
        .or_default() += 1;

    let correlation = header(&headers, "x-ms-correlation-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let finish =
        |st: &mut State, mut reply: Reply, outcome: &str, remaining: Option<(Class, u64)>| {
            let request_id = uuid::Uuid::new_v4().to_string();
            reply.header("x-ms-request-id", request_id);
            reply.header("x-ms-correlation-request-id", correlation.clone());
            reply.header(
                "x-ms-routing-request-id",
                format!("EASTUS:{}:{correlation}", crate::clock::routing_stamp()),
            );
            reply.header("Cache-Control", "no-cache");
            reply.header("Pragma", "no-cache");
            reply.header("Expires", "-1");
            if let Some((class, n)) = remaining {
                reply.header(class.header(), n.to_string());
                if path.to_ascii_lowercase().contains("/microsoft.compute/") {
                    let policy = match class {
                        Class::Reads => "LowCostGet3Min",
                        Class::Writes => "PutVM3Min",
                        Class::Deletes => "DeleteVM3Min",
                    };
                    reply.header(
                        "x-ms-ratelimit-remaining-resource",
                        format!("Microsoft.Compute/{policy};{n}"),
                    );
                }
            }
            if header(&headers, "x-ms-return-client-request-id")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                && let Some(id) = header(&headers, "x-ms-client-request-id")
            {
                reply.header("x-ms-client-request-id", id);
            }
            record(st, &method, &uri_text, reply.status, outcome);
            to_response(reply)
        };

    if let Err(reply) = token::check_bearer(&st, header(&headers, "authorization")) {
        st.stats.unauthorized += 1;
        return Ok(finish(&mut st, reply, "unauthorized", None));
    }

    let class = Class::of(&method);
    let remaining = match st.buckets.spend(class, now) {
        Spend::Ok(n) => n,
        Spend::Throttled(secs) => {
            st.stats.faults.throttled += 1;
            let err = crate::ArmError::throttled(&subscription_of(&path), class.name(), secs);
            return Ok(finish(&mut st, err.into(), "throttled", Some((class, 0))));
        }
    };

    let draw = st.draw_fault();
    match draw {
        Draw::Error => {
            st.stats.faults.errors += 1;
            let err = crate::ArmError::internal(&correlation);
            return Ok(finish(
                &mut st,
                err.into(),
                "error",
                Some((class, remaining)),
            ));
        }
        Draw::Drop => {
            st.stats.faults.dropped += 1;
            record(&mut st, &method, &uri_text, 0, "dropped");
            return Err(CloseConnection);
        }
        Draw::Pass | Draw::LoseAnswer => {}
    }

    let arm_req = ArmRequest {
        method: method.clone(),
        path: path.clone(),
        query,
        body,
    };
    let reply = handlers::handle(&mut st, &arm_req);
    if draw == Draw::LoseAnswer {
        st.stats.faults.lost_answers += 1;
        record(&mut st, &method, &uri_text, 0, "lost");
        return Err(CloseConnection);
    }
    Ok(finish(&mut st, reply, "ok", Some((class, remaining))))
}

async fn token(shared: Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let content_type = header(req.headers(), "content-type").map(str::to_string);
    let Some(body) = read_body(req.into_body()).await else {
        return to_response(Reply::empty(413));
    };
    let mut reply = {
        let mut st = lock(&shared);
        token::token_endpoint(&mut st, &method, &path, content_type.as_deref(), &body)
    };
    reply.header("Cache-Control", "no-store, no-cache");
    reply.header("Pragma", "no-cache");
    reply.header("x-ms-request-id", uuid::Uuid::new_v4().to_string());
    to_response(reply)
}
