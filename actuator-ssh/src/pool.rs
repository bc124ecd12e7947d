//! The connection pool: one authenticated connection per `(host, port, user)`,
//! opened on first use under a cap on concurrent handshakes, and reused by
//! every task for that login.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh_sftp::client::RawSftpSession;
use tokio::sync::{OnceCell, Semaphore};
use tracing::debug;

use super::known_hosts::{self, HostKeyPolicy};
use super::{SshOptions, SshStats, auth};
use actuator::exec::support::current_user;
use actuator::exec::{ExecError, ExecTask};
use actuator::secret::Secret;

/// Who logs in where, with which credentials.
pub(crate) struct Login {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The explicit key: the task's, else the agent's default.
    pub key_file: Option<PathBuf>,
    pub password: Option<Secret>,
}

type LoginKey = (String, u16, String);

impl Login {
    /// The login for `task`: its host (with an optional port), its user, else
    /// the agent's default user, else the current user.
    pub fn for_task(task: &ExecTask, options: &SshOptions) -> Result<Login, String> {
        let (host, port) = split_host_port(&task.host, options.port)?;
        let user = match task.user.as_deref().or(options.default_user.as_deref()) {
            Some(u) if !u.is_empty() => u.to_owned(),
            Some(_) => return Err("the remote user is empty".into()),
            None => {
                current_user().ok_or("no remote user given and the current user has no name")?
            }
        };
        Ok(Login {
            host,
            port,
            user,
            key_file: task
                .key_file
                .clone()
                .or_else(|| options.default_key.clone()),
            password: task.password.clone(),
        })
    }

    fn key(&self) -> LoginKey {
        (self.host.clone(), self.port, self.user.clone())
    }

    /// `user@host:port`, for messages.
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
pub(crate) fn split_host_port(given: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("cannot parse host `{given}` (use `host`, `host:port` or `[ipv6]:port`)");
    if given.is_empty() {
        return Err("the host is empty".into());
    }
    if let Some(rest) = given.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let port = match tail {
            "" => default_port,
            t => t
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?,
        };
        return Ok((host.to_owned(), port));
    }
    match given.matches(':').count() {
        0 => Ok((given.to_owned(), default_port)),
        1 => {
            let (host, port) = given.split_once(':').expect("one colon");
            let port = port.parse().map_err(|_| bad())?;
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), port))
        }
        // A bare IPv6 address.
        _ => Ok((given.to_owned(), default_port)),
    }
}

/// Why a handshake was refused by our side.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey(String),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandlerError::Ssh(e) => write!(f, "{e}"),
            HandlerError::HostKey(m) => f.write_str(m),
        }
    }
}

/// The client side of a connection: checks the host key.
pub(crate) struct Client {
    host: String,
    port: u16,
    policy: Arc<HostKeyPolicy>,
    known_hosts_lock: Arc<Mutex<()>>,
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(HandlerError::HostKey(format!(
                "host `{}` presented a host certificate; only plain host keys are checked",
                self.host
            )));
        };
        let _guard = self.known_hosts_lock.lock();
        known_hosts::check(&self.policy, &self.host, self.port, key)
            .map(|()| true)
            .map_err(HandlerError::HostKey)
    }
}

/// One authenticated connection.
pub(crate) struct Conn {
    pub handle: client::Handle<Client>,
    /// Limits the command channels open at once (sshd's `MaxSessions`).
    pub channels: Semaphore,
    sftp: OnceCell<(Arc<RawSftpSession>, String)>,
    pub label: String,
    counters: Arc<Counters>,
}

impl Conn {
    /// The connection's SFTP session, opened on first use, and the directory it starts in (the
    /// login's home: what relative paths are relative to).
    pub async fn sftp(&self) -> Result<(Arc<RawSftpSession>, String), String> {
        self.sftp
            .get_or_try_init(|| async {
                let channel = self
                    .handle
                    .channel_open_session()
                    .await
                    .map_err(|e| format!("cannot open an SFTP channel: {e}"))?;
                channel
                    .request_subsystem(true, "sftp")
                    .await
                    .map_err(|e| format!("cannot start the SFTP subsystem: {e}"))?;
                let session = RawSftpSession::new(channel.into_stream());
                session.set_timeout(SFTP_REQUEST_TIMEOUT.as_secs());
                session
                    .init()
                    .await
                    .map_err(|e| format!("SFTP subsystem did not start: {e}"))?;
                let home = session
                    .realpath(".")
                    .await
                    .ok()
                    .and_then(|name| name.files.into_iter().next())
                    .map(|file| file.filename)
                    .ok_or("the SFTP server did not say where the session starts")?;
                self.counters.sftp.fetch_add(1, Ordering::Relaxed);
                Ok((Arc::new(session), home))
            })
            .await
            .cloned()
    }

    /// Counts a command channel.
    pub fn count_channel(&self) {
        self.counters.channels.fetch_add(1, Ordering::Relaxed);
    }
}

/// How long one SFTP request may take.
const SFTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Counters {
    handshakes: AtomicU64,
    channels: AtomicU64,
    sftp: AtomicU64,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Conn>>>>;

pub(crate) struct Pool {
    slots: Mutex<HashMap<LoginKey, Slot>>,
    handshakes: Semaphore,
    config: Arc<client::Config>,
    policy: Arc<HostKeyPolicy>,
    known_hosts_lock: Arc<Mutex<()>>,
    connect_timeout: Duration,
    max_channels: usize,
    counters: Arc<Counters>,
}

impl Pool {
    pub fn new(options: &SshOptions) -> Pool {
        Pool {
            slots: Mutex::new(HashMap::new()),
            handshakes: Semaphore::new(options.max_handshakes.max(1)),
            config: Arc::new(client_config(options)),
            policy: Arc::new(options.host_keys.clone()),
            known_hosts_lock: Arc::new(Mutex::new(())),
            connect_timeout: options.connect_timeout,
            max_channels: options.max_channels.max(1),
            counters: Arc::new(Counters::default()),
        }
    }

    pub fn stats(&self) -> SshStats {
        let slots = self.slots.lock();
        let open = slots
            .values()
            .filter(|s| {
                s.try_lock()
                    .map(|c| c.as_ref().is_some_and(|c| !c.handle.is_closed()))
                    .unwrap_or(true)
            })
            .count();
        SshStats {
            handshakes: self.counters.handshakes.load(Ordering::Relaxed),
            channels: self.counters.channels.load(Ordering::Relaxed),
            sftp_sessions: self.counters.sftp.load(Ordering::Relaxed),
            open_connections: open,
        }
    }

    fn slot(&self, key: LoginKey) -> Slot {
        let mut slots = self.slots.lock();
        slots.entry(key).or_default().clone()
    }

    /// The pooled connection for `login`, connecting when there is none or it
    /// has closed. Tasks for one login wait for the same handshake.
    pub async fn get(&self, task: &str, login: &Login) -> Result<Arc<Conn>, ExecError> {
        let slot = self.slot(login.key());
        let mut conn = slot.lock().await;
        if let Some(c) = conn.as_ref()
            && !c.handle.is_closed()
        {
            return Ok(c.clone());
        }
        *conn = None;
        let fresh =
            Arc::new(
                self.connect(login)
                    .await
                    .map_err(|message| ExecError::Connection {
                        task: task.into(),
                        host: login.label(),
                        message,
                    })?,
            );
        *conn = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops `conn` from the pool if it is still the pooled one.
    pub fn evict(&self, login: &Login, conn: &Arc<Conn>) {
        let slot = self.slot(login.key());
        if let Ok(mut pooled) = slot.try_lock()
            && pooled.as_ref().is_some_and(|p| Arc::ptr_eq(p, conn))
        {
            *pooled = None;
        }
    }

    pub async fn disconnect_all(&self) {
        let slots: Vec<Slot> = {
            let mut map = self.slots.lock();
            map.drain().map(|(_, s)| s).collect()
        };
        for slot in slots {
            if let Some(conn) = slot.lock().await.take() {
                let _ = conn
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, "", "en")
                    .await;
            }
        }
    }

    async fn connect(&self, login: &Login) -> Result<Conn, String> {
        let _permit = self
            .handshakes
            .acquire()
            .await
            .map_err(|_| "the agent is shutting down".to_string())?;
        self.counters.handshakes.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let too_slow = || {
            format!(
                "no SSH session within {:?} (connect, key exchange and authentication)",
                self.connect_timeout
            )
        };
        let addr = (login.host.as_str(), login.port);
        let socket = tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| too_slow())?
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = socket.set_nodelay(true);
        // russh runs the session on a task of its own, which a timeout here
        // would leave holding the socket: keep a duplicate to shut it down.
        let (socket, mut killer) = socket
            .into_std()
            .and_then(|s| {
                let dup = s.try_clone()?;
                Ok((
                    tokio::net::TcpStream::from_std(s)?,
                    ShutdownOnDrop(Some(dup)),
                ))
            })
            .map_err(|e| format!("cannot set up the socket: {e}"))?;
        let handshake = async {
            let client = Client {
                host: login.host.clone(),
                port: login.port,
                policy: self.policy.clone(),
                known_hosts_lock: self.known_hosts_lock.clone(),
            };
            let stream = QuickAck::new(socket);
            let mut handle = client::connect_stream(self.config.clone(), stream, client)
                .await
                .map_err(|e| match e {
                    HandlerError::HostKey(m) => m,
                    HandlerError::Ssh(e) => connect_error(&e),
                })?;
            auth::authenticate(&mut handle, login).await?;
            Ok::<_, String>(handle)
        };
        let result = tokio::time::timeout_at(deadline, handshake)
            .await
            .unwrap_or_else(|_| Err(too_slow()));
        // On failure (and when this future is dropped) `killer` shuts the socket down.
        let handle = result?;
        killer.disarm();
        debug!(login = %login.label(), elapsed = ?started.elapsed(), "ssh connection open");
        Ok(Conn {
            handle,
            channels: Semaphore::new(self.max_channels),
            sftp: OnceCell::new(),
            label: login.label(),
            counters: self.counters.clone(),
        })
    }
}

/// Shuts a socket down when dropped, unless disarmed: a handshake that fails,
/// times out or is abandoned must not leave russh's session task holding it.
struct ShutdownOnDrop(Option<std::net::TcpStream>);

impl ShutdownOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The connection's socket, acknowledging what it receives at once during
/// the first exchanges.
///
/// sshd leaves Nagle's algorithm on until a session runs its first command,
/// so a small reply sent while an earlier small message is unacknowledged
/// waits for our delayed ACK (40 ms on Linux): the first channel of every
/// connection took 45 ms instead of 3. `TCP_QUICKACK` (which the kernel
/// clears again by itself) is set after each of the first reads.
struct QuickAck {
    socket: tokio::net::TcpStream,
    reads: u32,
}

/// Reads after which quick acknowledgements are no longer forced (the first
/// command has run by then and sshd has turned Nagle's algorithm off).
const QUICKACK_READS: u32 = 64;

impl QuickAck {
    fn new(socket: tokio::net::TcpStream) -> Self {
        let q = QuickAck { socket, reads: 0 };
        q.quickack();
        q
    }

    /// Linux only: elsewhere there is no TCP_QUICKACK, and delayed ACKs stay as the kernel has them.
    fn quickack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(&self.socket).set_tcp_quickack(true);
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.socket).poll_read(cx, buf);
        if polled.is_ready() && self.reads < QUICKACK_READS {
            self.reads += 1;
            self.quickack();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// A readable message for a failed connect or key exchange.
fn connect_error(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => format!("cannot connect: {io}"),
        russh::Error::Disconnect => {
            "the server closed the connection during the handshake (sshd MaxStartups reached?)"
                .into()
        }
        other => format!("SSH handshake failed: {other}"),
    }
}

fn client_config(options: &SshOptions) -> client::Config {
    use std::borrow::Cow;

    use russh::kex;
    let preferred = russh::Preferred {
        // curve25519 first: the fastest key exchange every current sshd offers.
        kex: Cow::Owned(vec![
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::MLKEM768X25519_SHA256,
            kex::DH_GEX_SHA256,
            kex::DH_G16_SHA512,
            kex::DH_G14_SHA256,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
        ]),
        ..russh::Preferred::default()
    };
    client::Config {
        preferred,
        nodelay: true,
        keepalive_interval: options.keepalive,
        keepalive_max: 3,
        inactivity_timeout: None,
        ..client::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_and_without_ports() {
        assert_eq!(split_host_port("web1", 22).unwrap(), ("web1".into(), 22));
        assert_eq!(
            split_host_port("10.0.0.5:2200", 22).unwrap(),
            ("10.0.0.5".into(), 2200)
        );
        assert_eq!(
            split_host_port("[fd00::5]:2200", 22).unwrap(),
            ("fd00::5".into(), 2200)
        );
        assert_eq!(
            split_host_port("fd00::5", 2222).unwrap(),
            ("fd00::5".into(), 2222)
        );
        assert_eq!(split_host_port("[::1]", 7).unwrap(), ("::1".into(), 7));
        assert!(split_host_port("web1:http", 22).is_err());
        assert!(split_host_port(":22", 22).is_err());
        assert!(split_host_port("", 22).is_err());
    }

    #[test]
    fn labels_bracket_ipv6() {
        let login = Login {
            host: "::1".into(),
            port: 22,
            user: "u".into(),
            key_file: None,
            password: None,
        };
        assert_eq!(login.label(), "u@[::1]:22");
    }
}
