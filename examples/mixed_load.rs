//! The mixed benchmark's load generator (`bench/mixed.py` runs it): a deadline rush as readers and
//! writers see it together. Every connection sends, in turn, nine reads and one registration: the
//! reads alternate `GET /procurements` and the round's participation list, the registrations
//! answer for the next body of the list, alternating joined and declined. Latencies are kept per
//! kind of request, and the rates and percentiles of each are printed as one JSON object.
//!
//! Usage: mixed_load <base URL> <seconds> <connections>, with `BENCH_TOKEN`, `BENCH_ROUND` and
//! `BENCH_CODES` (comma-separated) in the environment, as `bench/run.py` sets them for wrk.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;

/// Of every `CYCLE` requests a connection sends, the last is a registration.
const CYCLE: u64 = 10;

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failed: u64,
}

impl Tally {
    fn summary(&mut self, seconds: f64) -> serde_json::Value {
        self.latencies_us.sort_unstable();
        let at = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() as f64) * p).ceil() as usize;
            self.latencies_us[i.clamp(1, self.latencies_us.len()) - 1] as f64 / 1000.0
        };
        json!({
            "requests": self.latencies_us.len(),
            "rps": self.latencies_us.len() as f64 / seconds,
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "failed": self.failed,
        })
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .expect("usage: mixed_load <base URL> <seconds> <connections>");
    let seconds: u64 = args.next().map_or(5, |s| s.parse().expect("seconds"));
    let connections: u64 = args.next().map_or(64, |s| s.parse().expect("connections"));
    let token = env("BENCH_TOKEN");
    let round = env("BENCH_ROUND");
    let codes: Vec<String> = env("BENCH_CODES").split(',').map(str::to_owned).collect();

    let reads = Rc::new(RefCell::new(Tally::default()));
    let writes = Rc::new(RefCell::new(Tally::default()));
    let started = Instant::now();
    actix_web::rt::System::new().block_on(async {
        let until = started + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for connection in 0..connections {
            // One client per connection: it sends one request at a time and keeps its connection.
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish();
            let (base, token, round, codes) =
                (base.clone(), token.clone(), round.clone(), codes.clone());
            let (reads, writes) = (reads.clone(), writes.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let bearer = format!("Bearer {token}");
                let procurements = format!("{base}/api/v1/procurements");
                let participations = format!("{base}/api/v1/rounds/{round}/participations");
                // Connections start at different points of the cycle, so that writes are spread.
                let mut counter = connection * 7;
                while Instant::now() < until {
                    counter += 1;
                    let sent = Instant::now();
                    let (ok, tally) = if counter % CYCLE == 0 {
                        let code = &codes[(counter / CYCLE) as usize % codes.len()];
                        let status = if counter % (2 * CYCLE) == 0 {
                            "joined"
                        } else {
                            "declined"
                        };
                        let response = client
                            .put(format!("{participations}/{code}"))
                            .insert_header(("authorization", bearer.as_str()))
                            .send_json(&json!({"status": status, "reason": "bench"}))
                            .await;
                        (settle(response).await, &writes)
                    } else {
                        let url = if counter % 2 == 0 {
                            &procurements
                        } else {
                            &participations
                        };
                        let response = client
                            .get(url.as_str())
                            .insert_header(("authorization", bearer.as_str()))
                            .send()
                            .await;
                        (settle(response).await, &reads)
                    };
                    let mut tally = tally.borrow_mut();
                    tally.latencies_us.push(sent.elapsed().as_micros() as u64);
                    tally.failed += u64::from(!ok);
                }
            }));
        }
        for task in tasks {
            task.await.expect("a connection's task failed");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let report = json!({
        "reads": reads.borrow_mut().summary(elapsed),
        "writes": writes.borrow_mut().summary(elapsed),
    });
    println!("{report}");
}

/// Whether the answer was a success, its body read to the end (so the connection is reused).
async fn settle<S>(response: Result<awc::ClientResponse<S>, awc::error::SendRequestError>) -> bool
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    match response {
        Ok(mut response) => {
            let body = response.body().limit(16 << 20).await;
            response.status().is_success() && body.is_ok()
        }
        Err(_) => false,
    }
}
