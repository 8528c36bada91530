//! What both mock model servers share: a loopback listener that serves each
//! connection on a thread and keeps a log of what it answered, reading one
//! HTTP/1.1 request, and measuring the model's own time. Used by each
//! mock as `super::http`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as a mock saw it, and what it answered (`A`: the mock's own
/// kind of answer).
#[derive(Clone, Debug)]
pub struct Recorded<A> {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub answer: A,
    /// The usage the answer reported (null when it reported none).
    pub usage: Value,
    pub arrived: Instant,
    pub answered: Instant,
}

/// What a mock's connection threads share.
pub struct State<A, C> {
    pub config: C,
    pub log: Mutex<Vec<Recorded<A>>>,
    pub stopping: AtomicBool,
    pub ids: AtomicUsize,
}

/// A mock listening on 127.0.0.1 (a free port) until dropped.
pub struct Server<A, C> {
    pub addr: SocketAddr,
    pub state: Arc<State<A, C>>,
    acceptor: Option<JoinHandle<()>>,
}

pub type Serve<A, C> = fn(TcpStream, &State<A, C>) -> std::io::Result<()>;

impl<A: Clone + Send + 'static, C: Send + Sync + 'static> Server<A, C> {
    pub fn start(name: &str, config: C, serve: Serve<A, C>) -> Server<A, C> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock: bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            config,
            log: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            ids: AtomicUsize::new(1),
        });
        let s = state.clone();
        let acceptor = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let s = s.clone();
                    std::thread::spawn(move || {
                        // A client that hangs up mid-answer is its business.
                        let _ = serve(conn, &s);
                    });
                }
            })
            .unwrap();
        Server { addr, state, acceptor: Some(acceptor) }
    }

    pub fn requests(&self) -> Vec<Recorded<A>> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests so far: a baseline for `requests_since`.
    pub fn count(&self) -> usize {
        self.state.log.lock().unwrap().len()
    }

    pub fn requests_since(&self, from: usize) -> Vec<Recorded<A>> {
        self.state.log.lock().unwrap()[from..].to_vec()
    }
}

impl<A, C> Drop for Server<A, C> {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// A request as every mock starts on it: when it came, its body as JSON
/// (`Null` if it is not), and its path without the query.
pub struct Incoming {
    pub req: HttpRequest,
    pub arrived: Instant,
    pub body: Value,
    pub route: String,
}

/// What every mock does first with a connection: read its request (a
/// client silent for 30 s is dropped); `None` if it closed without one.
pub fn receive(conn: &TcpStream) -> std::io::Result<Option<Incoming>> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(req) = read_request(conn)? else { return Ok(None) };
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let route = req.path.split('?').next().unwrap_or("").to_string();
    Ok(Some(Incoming { req, arrived, body, route }))
}

pub fn read_request(conn: &TcpStream) -> std::io::Result<Option<HttpRequest>> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "content-length" {
            length = v.parse().unwrap_or(0);
        } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                line.clear();
                r.read_line(&mut line)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(HttpRequest { method, path, body }))
}

/// The token counts a mock reports for the answer numbered `n`: different
/// for every answer, and known to the test that sums them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

pub fn usage_for(n: usize) -> Usage {
    let n = n as u64;
    Usage { input: 100 + n, output: 10 + 2 * n, cache_read: 3 * n, cache_write: n }
}

/// Time spent answering `requests` (arrival to last byte), overlaps counted
/// once: the model's own time.
pub fn busy_time<A>(requests: &[Recorded<A>]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = requests.iter().map(|r| (r.arrived, r.answered)).collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in spans {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((a, b)) = current {
        total += b - a;
    }
    total
}
