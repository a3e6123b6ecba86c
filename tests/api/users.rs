//! Inviting users, accepting invitations and listing users, role by role.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use kyodo::db::schema::users;

use crate::helpers::{ADMIN_EMAIL, Response, TestApp, USER_PASSWORD, spawn_app};

async fn invite(app: &TestApp, token: &str, body: Value) -> Response {
    app.post("/api/v1/users", Some(token), body).await
}

fn invitation(email: &str, role: &str, organization: &str) -> Value {
    json!({"email": email, "display_name": "信州 太郎", "role": role, "organization": organization})
}

async fn accept(app: &TestApp, token: &str, password: &str) -> Response {
    app.post(
        &format!("/api/v1/invitations/{token}/accept"),
        None,
        json!({"password": password}),
    )
    .await
}

async fn organization_id(app: &TestApp, token: &str, code: &str) -> String {
    let response = app
        .get(&format!("/api/v1/organizations/{code}"), token)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.body["id"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.problem_code(), code, "{}", response.text);
}

#[track_caller]
fn assert_invited(app: &TestApp, response: &Response) -> String {
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    // The one-time token travels by e-mail only.
    assert!(
        response.body.get("invitation_token").is_none(),
        "{}",
        response.text
    );
    let email = response.body["user"]["email"].as_str().expect("an address");
    let token = app.invitation_token(email);
    assert!(token.starts_with("kyi_"), "{token}");
    assert_eq!(response.body["user"]["active"], false);
    token.to_owned()
}

fn emails(response: &Response) -> BTreeSet<String> {
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

// --- inviting -----------------------------------------------------------------------------------

#[actix_web::test]
async fn an_admin_invites_a_user_of_any_body() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = Utc::now();
    let response = invite(
        &app,
        &admin,
        invitation("Taro@City.Matsumoto.LG.JP", "coordinator", "202029"),
    )
    .await;
    assert_invited(&app, &response);
    let user = &response.body["user"];
    assert_eq!(user["email"], "taro@city.matsumoto.lg.jp");
    assert_eq!(user["display_name"], "信州 太郎");
    assert_eq!(user["role"], "coordinator");
    assert_eq!(
        user["organization_id"],
        organization_id(&app, &admin, "202029").await
    );

    let expires: DateTime<Utc> = response.body["invitation_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expires > before + Duration::days(7) - Duration::minutes(1),
        "{expires}"
    );
    assert!(
        expires < Utc::now() + Duration::days(7) + Duration::minutes(1),
        "{expires}"
    );

    // By id as well as by code; viewers as well as coordinators.
    let shiojiri = organization_id(&app, &admin, "202151").await;
    let by_id = invite(
        &app,
        &admin,
        invitation("viewer@city.shiojiri.lg.jp", "viewer", &shiojiri),
    )
    .await;
    assert_invited(&app, &by_id);
    assert_eq!(by_id.body["user"]["organization_id"], shiojiri);
}

#[actix_web::test]
async fn a_coordinator_invites_users_of_their_own_body_only() {
    let app = spawn_app().await;
    let coordinator = app.user("coordinator", "202011").await;

    let explicit = invite(
        &app,
        &coordinator.token,
        invitation("a@city.nagano.lg.jp", "viewer", "202011"),
    )
    .await;
    assert_invited(&app, &explicit);
    assert_eq!(
        explicit.body["user"]["organization_id"],
        coordinator.organization_id
    );

    let by_default = invite(
        &app,
        &coordinator.token,
        json!({"email": "b@city.nagano.lg.jp", "display_name": "既定", "role": "coordinator"}),
    )
    .await;
    assert_invited(&app, &by_default);
    assert_eq!(
        by_default.body["user"]["organization_id"],
        coordinator.organization_id
    );
    assert_eq!(by_default.body["user"]["role"], "coordinator");

    let elsewhere = invite(
        &app,
        &coordinator.token,
        invitation("c@city.matsumoto.lg.jp", "viewer", "202029"),
    )
    .await;
    assert_problem(&elsewhere, StatusCode::FORBIDDEN, "not_your_organization");

    for organization in [Some("202011"), None] {
        let mut body =
            json!({"email": "d@city.nagano.lg.jp", "display_name": "管理者", "role": "admin"});
        if let Some(organization) = organization {
            body["organization"] = json!(organization);
        }
        let admin = invite(&app, &coordinator.token, body).await;
        assert_problem(&admin, StatusCode::FORBIDDEN, "role_forbidden");
    }
    // Not into the secretariat either.
    let secretariat = invite(
        &app,
        &coordinator.token,
        invitation("e@pref.nagano.lg.jp", "admin", "200000"),
    )
    .await;
    assert_problem(&secretariat, StatusCode::FORBIDDEN, "role_forbidden");

    // None of the refused invitations created a user.
    let listed = app
        .get("/api/v1/users?organization=202011", &coordinator.token)
        .await;
    assert_eq!(listed.body["total"], 3, "{}", listed.text);
}

#[actix_web::test]
async fn a_viewer_cannot_invite_anyone() {
    let app = spawn_app().await;
    let viewer = app.user("viewer", "202011").await;
    for body in [
        invitation("a@city.nagano.lg.jp", "viewer", "202011"),
        json!({"email": "b@city.nagano.lg.jp", "display_name": "既定", "role": "viewer"}),
        invitation("c@city.matsumoto.lg.jp", "coordinator", "202029"),
    ] {
        let response = invite(&app, &viewer.token, body.clone()).await;
        assert_problem(&response, StatusCode::FORBIDDEN, "role_forbidden");
    }
}

#[actix_web::test]
async fn administrators_belong_to_the_secretariat_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let municipality = invite(
        &app,
        &admin,
        invitation("admin@city.nagano.lg.jp", "admin", "202011"),
    )
    .await;
    assert_eq!(
        municipality.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        municipality.text
    );
    assert_eq!(municipality.problem_code(), "validation_failed");
    assert_eq!(municipality.body["errors"][0]["field"], "role");
    assert_eq!(
        municipality.body["errors"][0]["code"],
        "admin_outside_secretariat"
    );
    assert_eq!(municipality.body["errors"].as_array().unwrap().len(), 1);

    let union = app
        .get(
            "/api/v1/organizations?kind=wide_area_union&per_page=1",
            &admin,
        )
        .await;
    let union_id = union.body["items"][0]["id"].as_str().unwrap();
    let in_union = invite(
        &app,
        &admin,
        invitation("admin@union.example.lg.jp", "admin", union_id),
    )
    .await;
    assert_eq!(
        in_union.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        in_union.text
    );
    assert_eq!(
        in_union.body["errors"][0]["code"],
        "admin_outside_secretariat"
    );

    let prefecture = invite(
        &app,
        &admin,
        invitation("second.admin@pref.nagano.lg.jp", "admin", "200000"),
    )
    .await;
    assert_invited(&app, &prefecture);
    assert_eq!(prefecture.body["user"]["role"], "admin");

    let association = app
        .get("/api/v1/organizations?kind=association", &admin)
        .await;
    let association_id = association.body["items"][0]["id"].as_str().unwrap();
    let in_association = invite(
        &app,
        &admin,
        invitation("admin@association.example.lg.jp", "admin", association_id),
    )
    .await;
    assert_invited(&app, &in_association);
}

#[actix_web::test]
async fn an_email_address_has_one_account_whatever_its_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_invited(
        &app,
        &invite(
            &app,
            &admin,
            invitation("dup@city.nagano.lg.jp", "viewer", "202011"),
        )
        .await,
    );

    for email in [
        "dup@city.nagano.lg.jp",
        "DUP@City.Nagano.LG.JP",
        " dup@city.nagano.lg.jp ",
    ] {
        // Also for another body and another role.
        let again = invite(&app, &admin, invitation(email, "coordinator", "202029")).await;
        assert_problem(&again, StatusCode::CONFLICT, "email_taken");
    }
    let first_admin = invite(
        &app,
        &admin,
        invitation(&ADMIN_EMAIL.to_uppercase(), "viewer", "200000"),
    )
    .await;
    assert_problem(&first_admin, StatusCode::CONFLICT, "email_taken");
}

#[actix_web::test]
async fn an_invitation_to_an_unknown_body_is_not_found() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let unknown = invite(
        &app,
        &admin,
        invitation("x@example.lg.jp", "viewer", "131016"),
    )
    .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "organization_not_found");
    let bad_check_digit = invite(
        &app,
        &admin,
        invitation("x@example.lg.jp", "viewer", "202012"),
    )
    .await;
    assert_problem(
        &bad_check_digit,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(bad_check_digit.body["errors"][0]["code"], "invalid_lg_code");
}

// --- accepting ----------------------------------------------------------------------------------

#[actix_web::test]
async fn accepting_an_invitation_activates_the_account_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let invited = invite(
        &app,
        &admin,
        invitation("taro@city.nagano.lg.jp", "coordinator", "202011"),
    )
    .await;
    let token = assert_invited(&app, &invited);

    let accepted = accept(&app, &token, USER_PASSWORD).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body["active"], true);
    assert_eq!(accepted.body["id"], invited.body["user"]["id"]);
    assert_eq!(accepted.body["email"], "taro@city.nagano.lg.jp");

    let login = app.login("taro@city.nagano.lg.jp", USER_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let me = app
        .get("/api/v1/me", login.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.body["user"]["role"], "coordinator");
    assert_eq!(me.body["user"]["active"], true);
    assert_eq!(me.body["organization"]["lg_code"], "202011");

    // The invitation is spent: it cannot reset the password.
    let twice = accept(&app, &token, "another passphrase entirely").await;
    assert_problem(&twice, StatusCode::NOT_FOUND, "invitation_not_found");
    assert_eq!(
        app.login("taro@city.nagano.lg.jp", "another passphrase entirely")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("taro@city.nagano.lg.jp", USER_PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn an_unknown_invitation_is_not_found() {
    let app = spawn_app().await;
    let response = accept(&app, "kyi_not-a-real-invitation", USER_PASSWORD).await;
    assert_problem(&response, StatusCode::NOT_FOUND, "invitation_not_found");
}

#[actix_web::test]
async fn a_short_password_is_refused_and_the_invitation_stays_usable() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let token = assert_invited(
        &app,
        &invite(
            &app,
            &admin,
            invitation("hanako@city.nagano.lg.jp", "viewer", "202011"),
        )
        .await,
    );

    // 11 characters: one short.
    let short = accept(&app, &token, "elevenchars").await;
    assert_problem(
        &short,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(short.body["errors"][0]["field"], "password");
    assert_eq!(short.body["errors"][0]["code"], "weak_password");

    let accepted = accept(&app, &token, "twelve chars").await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(
        app.login("hanako@city.nagano.lg.jp", "twelve chars")
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn an_expired_invitation_is_gone() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let invited = invite(
        &app,
        &admin,
        invitation("late@city.nagano.lg.jp", "viewer", "202011"),
    )
    .await;
    let token = assert_invited(&app, &invited);
    let id = invited.body["user"]["id"].as_str().unwrap();

    let pool = app.pool();
    let updated = diesel::update(users::table.find(id))
        .set(users::invitation_expires_at.eq(Some(Utc::now().naive_utc() - Duration::minutes(1))))
        .execute(&mut *pool.get().unwrap())
        .unwrap();
    assert_eq!(updated, 1);

    let response = accept(&app, &token, USER_PASSWORD).await;
    assert_problem(&response, StatusCode::GONE, "invitation_expired");
    assert_eq!(
        app.login("late@city.nagano.lg.jp", USER_PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

// --- listing ------------------------------------------------------------------------------------

#[actix_web::test]
async fn admins_see_every_users_and_may_filter_by_body() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nagano = app.user("coordinator", "202011").await;
    let nagano_viewer = app.user("viewer", "202011").await;
    let matsumoto = app.user("viewer", "202029").await;

    let all = app.get("/api/v1/users?per_page=200", &admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(all.body["total"], 4);
    assert_eq!(
        emails(&all),
        BTreeSet::from([
            ADMIN_EMAIL.to_owned(),
            nagano.email.clone(),
            nagano_viewer.email.clone(),
            matsumoto.email.clone()
        ])
    );

    let filtered = app.get("/api/v1/users?organization=202011", &admin).await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
    assert_eq!(filtered.body["total"], 2);
    assert_eq!(
        emails(&filtered),
        BTreeSet::from([nagano.email.clone(), nagano_viewer.email.clone()])
    );
    let by_id = app
        .get(
            &format!("/api/v1/users?organization={}", matsumoto.organization_id),
            &admin,
        )
        .await;
    assert_eq!(emails(&by_id), BTreeSet::from([matsumoto.email.clone()]));

    let paged = app.get("/api/v1/users?per_page=1&page=2", &admin).await;
    assert_eq!(paged.body["total"], 4);
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 1);
    assert_problem(
        &app.get("/api/v1/users?per_page=0", &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[actix_web::test]
async fn coordinators_and_viewers_see_only_their_own_bodys_users() {
    let app = spawn_app().await;
    let coordinator = app.user("coordinator", "202011").await;
    let viewer = app.user("viewer", "202011").await;
    let outsider = app.user("coordinator", "202029").await;

    for (who, user) in [("coordinator", &coordinator), ("viewer", &viewer)] {
        for path in ["/api/v1/users", "/api/v1/users?organization=202011"] {
            let response = app.get(path, &user.token).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{who} {path}: {}",
                response.text
            );
            assert_eq!(response.body["total"], 2, "{who} {path}");
            assert_eq!(
                emails(&response),
                BTreeSet::from([coordinator.email.clone(), viewer.email.clone()]),
                "{who} {path}"
            );
            let organizations: BTreeSet<&str> = response.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["organization_id"].as_str().unwrap())
                .collect();
            assert_eq!(
                organizations,
                BTreeSet::from([coordinator.organization_id.as_str()])
            );
        }
        for other in ["202029", "200000", outsider.organization_id.as_str()] {
            let response = app
                .get(&format!("/api/v1/users?organization={other}"), &user.token)
                .await;
            assert_problem(&response, StatusCode::FORBIDDEN, "not_your_organization");
        }
    }
}
