//! A real local HTTP server that webhook deliveries are sent to: keeps each delivery with the path
//! it went to, and answers 500 while `failures` lasts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// One delivery: the last segment of the path it was posted to, its headers and body.
type Delivery = (String, http::HeaderMap, Bytes);

#[derive(Clone, Default)]
pub struct Receiver {
    received: Arc<Mutex<Vec<Delivery>>>,
    /// How many of the next deliveries are answered 500.
    pub failures: Arc<AtomicUsize>,
}

async fn keep(
    receiver: web::Data<Receiver>,
    name: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    let mut headers = http::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    receiver
        .received
        .lock()
        .unwrap()
        .push((name.into_inner(), headers, body));
    let failing = receiver
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        HttpResponse::InternalServerError().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

impl Receiver {
    /// Serves on a free port of 127.0.0.1 (on the test's runtime); gives the receiver and its base
    /// URL, to which a delivery's path `/{name}` is added.
    pub fn start() -> (Self, String) {
        let receiver = Self::default();
        let data = receiver.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .route("/{name}", web::post().to(keep))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        (receiver, format!("http://127.0.0.1:{port}"))
    }

    /// Every delivery, in order of arrival: headers and the body as sent.
    pub fn raw(&self) -> Vec<(http::HeaderMap, Bytes)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, headers, body)| (headers.clone(), body.clone()))
            .collect()
    }

    /// Every delivery, in order of arrival: headers and the body as JSON.
    pub fn deliveries(&self) -> Vec<(http::HeaderMap, Value)> {
        self.raw()
            .into_iter()
            .map(|(headers, body)| (headers, serde_json::from_slice(&body).unwrap()))
            .collect()
    }

    /// The bodies posted to `/{name}`, as text.
    pub fn bodies_to(&self, name: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _, _)| to == name)
            .map(|(_, _, body)| String::from_utf8_lossy(body).into_owned())
            .collect()
    }
}
