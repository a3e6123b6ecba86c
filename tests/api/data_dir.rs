//! What the service writes to disk is its own user's alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use actix_web::http::{Method, StatusCode};

use crate::helpers::spawn_app_with;

/// The permission bits, in octal.
fn mode(path: &Path) -> String {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o777)
}

#[actix_web::test]
async fn the_data_directory_and_the_database_files_are_the_owners_alone() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        // PostgreSQL keeps the data in its own files, and the tests set JWT_SECRET.
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("var").join("kyodo");
    let database = data_dir.join("kyodo.db");
    let app = spawn_app_with(|config| {
        config.data_dir = data_dir.clone();
        config.database_url = Some(format!("sqlite://{}", database.display()).into());
        config.jwt_secret = None;
    })
    .await;
    let ready = app.request(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    app.admin_token().await;

    for dir in [root.path().join("var"), data_dir.clone()] {
        assert_eq!(mode(&dir), "700", "{}", dir.display());
    }
    for file in ["kyodo.db", "kyodo.db-wal", "kyodo.db-shm", "jwt_secret"] {
        assert_eq!(mode(&data_dir.join(file)), "600", "{file}");
    }
}
