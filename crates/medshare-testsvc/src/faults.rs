//! A fault-injecting TCP proxy to put in front of a real service (the S3 server): it forwards
//! bytes both ways and, for the next few connections it accepts, answers with a server error,
//! cuts the response after some bytes, or slows it down. Faults are chosen per connection, so
//! a client's retry on a new connection gets through once the budget is spent; injecting a
//! fault closes the connections open at that moment (as a restarting server would), so a
//! client's pooled connections cannot slip past it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward untouched.
    Pass,
    /// Read the request (head and `Content-Length` body), answer `500 Internal Server Error`
    /// with an S3 error document, and close.
    ServerError,
    /// Forward the request; pass this many bytes of the response, then close both sides.
    CutResponseAfter(usize),
    /// Forward, waiting this long before each piece of the response.
    Delay(Duration),
}

struct Plan {
    fault: Fault,
    left: usize,
}

/// The proxy; stops accepting when dropped (connections in flight finish on their own).
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    faulted: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream` (`http://127.0.0.1:PORT` or
    /// `127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is host:port on loopback");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("proxy address");
        let plan = Arc::new(Mutex::new(Plan {
            fault: Fault::Pass,
            left: 0,
        }));
        let faulted = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (p, f, c, s, o) = (
            plan.clone(),
            faulted.clone(),
            connections.clone(),
            stop.clone(),
            open.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                if let Ok(handle) = client.try_clone() {
                    o.lock().unwrap().push(handle);
                }
                let fault = {
                    let mut plan = p.lock().unwrap();
                    if plan.left > 0 {
                        plan.left -= 1;
                        f.fetch_add(1, Ordering::SeqCst);
                        plan.fault
                    } else {
                        Fault::Pass
                    }
                };
                std::thread::spawn(move || serve(client, upstream, fault));
            }
        });
        Self {
            addr,
            plan,
            faulted,
            connections,
            open,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Apply `fault` to the next `connections` connections (`usize::MAX`: until cleared).
    /// Connections open now are closed first.
    pub fn inject(&self, fault: Fault, connections: usize) {
        *self.plan.lock().unwrap() = Plan {
            fault,
            left: connections,
        };
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Forward everything untouched from now on.
    pub fn clear(&self) {
        self.inject(Fault::Pass, 0);
    }

    /// Connections a fault was applied to so far.
    pub fn faulted(&self) -> usize {
        self.faulted.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
    let _ = client.set_nodelay(true);
    if fault == Fault::ServerError {
        answer_server_error(client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Requests go up untouched.
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut server_w);
        let _ = server_w.shutdown(Shutdown::Write);
    });
    // Responses come down, faulted.
    let mut server_r = server;
    let mut buf = vec![0u8; 16 * 1024];
    let mut passed = 0usize;
    loop {
        let n = match server_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match fault {
            Fault::Delay(d) => std::thread::sleep(d),
            Fault::CutResponseAfter(limit) if passed + n > limit => {
                let _ = client.write_all(&buf[..limit - passed]);
                break;
            }
            _ => {}
        }
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n;
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server_r.shutdown(Shutdown::Both);
    let _ = up.join();
}

fn answer_server_error(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let _ = std::io::copy(&mut (&mut client).take(length), &mut std::io::sink());
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <Error><Code>InternalError</Code><Message>injected fault</Message></Error>";
    let _ = write!(
        client,
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.shutdown(Shutdown::Both);
}
