//! Small pages served by an actix server inside the test, for the harness's own tests.

use actix_web::{App, HttpResponse, HttpServer, cookie::Cookie, cookie::SameSite, web};

pub struct Pages {
    port: u16,
}

impl Pages {
    /// Starts the server on a free port; it lives as long as the test's runtime.
    pub fn serve() -> Pages {
        let server = HttpServer::new(|| {
            App::new()
                .route("/accessible", web::get().to(|| page(ACCESSIBLE)))
                .route("/unlabeled", web::get().to(|| page(UNLABELED)))
                .route("/greeting", web::get().to(greeting))
                .route("/cookies", web::get().to(cookies))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("a free port for the test pages");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Pages { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

async fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

#[derive(serde::Deserialize)]
struct Greeting {
    name: String,
    municipality: String,
}

/// The form's answer; the name is shown as text, never as markup.
async fn greeting(query: web::Query<Greeting>) -> HttpResponse {
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"ja\"><head><title>受付</title></head><body><main>\
             <h1>受付しました</h1><p>{}の{}さん、ようこそ。</p></main></body></html>",
            escaped(&query.municipality),
            escaped(&query.name)
        ))
}

/// Cookies as a login might set them, each with other attributes.
async fn cookies() -> HttpResponse {
    HttpResponse::Ok()
        .cookie(
            Cookie::build("session", "s3cr3t")
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .finish(),
        )
        .cookie(
            Cookie::build("theme", "dark")
                .path("/")
                .same_site(SameSite::Lax)
                .finish(),
        )
        .content_type("text/html; charset=utf-8")
        .body(ACCESSIBLE)
}

/// A form that axe finds nothing serious on: every field has a label, the page a language and a title.
const ACCESSIBLE: &str = r#"<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>参加申込</title></head>
<body>
<main>
  <h1>参加申込</h1>
  <form action="/greeting" method="get">
    <p><label for="name">担当者 氏名</label> <input id="name" name="name" autocomplete="name"></p>
    <p><label>団体 <select name="municipality"><option>長野市</option><option>松本市</option><option>小谷村</option></select></label></p>
    <p><button type="submit">申し込む</button> <a href="/accessible">取り消す</a></p>
  </form>
</main>
</body>
</html>"#;

/// The same form with its field's label gone: a critical violation of axe's `label` rule.
const UNLABELED: &str = r#"<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>参加申込</title></head>
<body>
<main>
  <h1>参加申込</h1>
  <form action="/greeting" method="get">
    <p>担当者 氏名 <input id="name" name="name"></p>
    <p><button type="submit">申し込む</button></p>
  </form>
</main>
</body>
</html>"#;
