//! A fault-injecting HTTP relay in front of a real service on loopback: every request is handed
//! to a rule the test sets, which lets it through, answers it instead of the service, forwards it
//! and then loses the answer, or drops the connection. One request per connection, as the
//! services here (WSGI servers speaking HTTP/1.0) and their clients do.
//!
//! ```no_run
//! use actuator_tests::relay::{Fault, Relay};
//! let r = Relay::start("127.0.0.1:25001");
//! // Every third POST to /v2.0/networks gets a 503; the rest pass.
//! let n = std::sync::atomic::AtomicU32::new(0);
//! r.set(move |req| {
//!     (req.method == "POST" && req.path.starts_with("/v2.0/networks")
//!         && n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3 == 0)
//!         .then(|| Fault::status(503, "busy"))
//! });
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// A request as the rule sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/v2.0/networks?name=net`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the relay does instead of simply forwarding.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and body without reaching the service.
    Status(u16, String),
    /// Close the connection without an answer, without reaching the service.
    Drop,
    /// Forward (the call takes effect), then close the connection without the answer.
    LoseAnswer,
    /// Forward, then answer with this status instead of the service's answer.
    ReplaceAnswer(u16, String),
    /// Wait, then forward.
    Delay(Duration),
}

impl Fault {
    /// An error answer with an OpenStack-style JSON body.
    pub fn status(code: u16, message: &str) -> Fault {
        let body = format!(
            r#"{{"NeutronError": {{"type": "Injected", "message": "{message}", "detail": ""}}}}"#
        );
        Fault::Status(code, body)
    }

    fn label(&self) -> String {
        match self {
            Fault::Status(s, _) => format!("HTTP {s}"),
            Fault::Drop => "dropped".into(),
            Fault::LoseAnswer => "lost answer".into(),
            Fault::ReplaceAnswer(s, _) => format!("lost answer (HTTP {s})"),
            Fault::Delay(_) => "delayed".into(),
        }
    }
}

type Rule = Arc<dyn Fn(&Request) -> Option<Fault> + Send + Sync>;

/// What passed through: every request (method and path) and the faults injected, in order.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub requests: Vec<(String, String)>,
    pub injected: Vec<(String, String, String)>,
}

/// The relay: `url` points at it; it forwards to `upstream`.
pub struct Relay {
    pub url: String,
    rule: Arc<Mutex<Rule>>,
    log: Arc<Mutex<Log>>,
}

impl Relay {
    /// A relay on a free loopback port in front of `upstream` (`host:port`), letting everything
    /// through until [`Relay::set`].
    pub fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let pass: Rule = Arc::new(|_| None);
        let rule = Arc::new(Mutex::new(pass));
        let log = Arc::new(Mutex::new(Log::default()));
        let (r, l) = (rule.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, l, up) = (r.clone(), l.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &r, &l);
                });
            }
        });
        Relay { url, rule, log }
    }

    /// Replaces the rule.
    pub fn set(&self, rule: impl Fn(&Request) -> Option<Fault> + Send + Sync + 'static) {
        *self.rule.lock() = Arc::new(rule);
    }

    /// Lets everything through again.
    pub fn clear(&self) {
        self.set(|_| None);
    }

    /// What passed so far.
    pub fn log(&self) -> Log {
        self.log.lock().clone()
    }

    /// How many faults were injected.
    pub fn injected(&self) -> usize {
        self.log.lock().injected.len()
    }
}

/// A share `p` of the requests (deterministic pseudo-random sequence from `seed`) get a fault
/// from `faults`, in turn: a rule for [`Relay::set`].
pub fn random(
    seed: u64,
    p: f64,
    faults: Vec<Fault>,
) -> impl Fn(&Request) -> Option<Fault> + Send + Sync {
    let state = AtomicU64::new(seed | 1);
    let turn = AtomicU64::new(0);
    move |_| {
        let mut x = state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.store(x, Ordering::Relaxed);
        let r = (x >> 11) as f64 / (1u64 << 53) as f64;
        (r < p).then(|| {
            let i = turn.fetch_add(1, Ordering::Relaxed) as usize % faults.len();
            faults[i].clone()
        })
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn answer(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rule: &Mutex<Rule>,
    log: &Mutex<Log>,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().to_owned();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let req = Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
    };
    let r = rule.lock().clone();
    let fault = r(&req);
    {
        let mut l = log.lock();
        l.requests.push((req.method.clone(), req.path.clone()));
        if let Some(f) = &fault
            && !matches!(f, Fault::Delay(_))
        {
            l.injected
                .push((req.method.clone(), req.path.clone(), f.label()));
        }
    }
    // The upstream closes after its answer (HTTP/1.0 servers), or is told to.
    let forward = |buf: &[u8]| -> std::io::Result<Vec<u8>> {
        let mut up = TcpStream::connect(upstream)?;
        up.set_nodelay(true)?;
        up.write_all(buf)?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp)?;
        Ok(resp)
    };
    match fault {
        None => {
            let resp = forward(&buf)?;
            client.write_all(&resp)?;
        }
        Some(Fault::Delay(d)) => {
            std::thread::sleep(d);
            let resp = forward(&buf)?;
            client.write_all(&resp)?;
        }
        Some(Fault::Status(s, body)) => client.write_all(&answer(s, &body))?,
        Some(Fault::Drop) => {}
        Some(Fault::LoseAnswer) => {
            forward(&buf)?;
        }
        Some(Fault::ReplaceAnswer(s, body)) => {
            forward(&buf)?;
            client.write_all(&answer(s, &body))?;
        }
    }
    client.shutdown(Shutdown::Both)
}
