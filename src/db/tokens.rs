use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{api_tokens, refresh_tokens, users};
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::user::{Role, TokenScope};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub user_id: UserId,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub token_hash: String,
    pub scope: TokenScope,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_refresh_token(conn: &mut DbConnection, row: &RefreshTokenRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find_refresh_token(
    conn: &mut DbConnection,
    digest: &str,
) -> QueryResult<Option<RefreshTokenRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(digest))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a refresh token used; false when another request used it first.
pub fn spend_refresh_token(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn revoke_refresh_family(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

pub fn insert_api_token(conn: &mut DbConnection, row: &ApiTokenRow) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Who an API token acts for: no password or invitation hash leaves the database to
/// authenticate a request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct TokenOwner {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub role: Role,
}

/// The token with this digest and its owner, if it is neither expired at `now` nor revoked.
pub fn find_active_api_token(
    conn: &mut DbConnection,
    digest: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(ApiTokenRow, TokenOwner)>> {
    crate::db::direct!(conn, |c| {
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(digest))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now))
            .select((ApiTokenRow::as_select(), TokenOwner::as_select()))
            .first(c)
            .optional()
    })
}

pub fn list_api_tokens(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<Vec<ApiTokenRow>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .select(ApiTokenRow::as_select())
        .load(conn)
}

pub fn find_api_token(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiTokenRow>> {
    api_tokens::table
        .find(id)
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn revoke_api_token(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)
}
