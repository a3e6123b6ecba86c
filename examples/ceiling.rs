//! The benchmark's ceiling: an actix-web endpoint returning a fixed JSON list without touching a
//! database. `bench/run.sh` reports the service's throughput as a share of this one's.

use actix_web::{App, HttpResponse, HttpServer, get};

#[get("/ceiling")]
async fn ceiling() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(
        r#"{"items":[{"id":"1","name":"長野市","status":"joined"},{"id":"2","name":"松本市","status":"joined"},{"id":"3","name":"上田市","status":"declined"}],"total":3}"#,
    )
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    HttpServer::new(|| App::new().service(ceiling))
        .bind(address)?
        .run()
        .await
}
