//! A real SMTP server over TCP, in the test process: it keeps what it receives, and refuses
//! recipients whose address starts with `reject` with a permanent 550.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};

#[derive(Clone, Default)]
pub struct SmtpSink {
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    current: Vec<u8>,
}

impl Handler for SmtpSink {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.trim_start_matches('<').starts_with("reject") {
            NO_MAILBOX
        } else {
            OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.current.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.received
            .lock()
            .expect("the sink's lock")
            .push(std::mem::take(&mut self.current));
        OK
    }
}

impl SmtpSink {
    /// Starts a server on `listener`'s port, serving until the test process ends.
    pub fn start(listener: TcpListener) -> Self {
        let sink = Self::default();
        let mut server = Server::new(sink.clone());
        server
            .with_name("smtp.test.example")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(error) = server.serve() {
                eprintln!("the test SMTP server stopped: {error}");
            }
        });
        sink
    }

    /// Starts a server on a free port.
    pub fn start_anywhere() -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a port").port();
        (Self::start(listener), port)
    }

    /// Every message received so far, raw.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().expect("the sink's lock").clone()
    }

    /// Every message received so far, parsed as a mail client would.
    pub fn messages(&self) -> Vec<mail_parser::Message<'static>> {
        self.received()
            .into_iter()
            .map(|raw| {
                mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a well-formed message")
                    .into_owned()
            })
            .collect()
    }
}

/// A port nobody listens on (yet): an SMTP server that is down refuses connections.
pub fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a port").port()
}
