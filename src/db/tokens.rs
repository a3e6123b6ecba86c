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

/// What admitting a request needs of an API token: not its name, nor its digest, which the
/// lookup matched already. Every statement that looks a token up carries these columns, so they
/// are as few as admitting needs.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenGrant {
    pub id: String,
    pub scope: TokenScope,
    pub expires_at: NaiveDateTime,
}

/// An active API token and who it acts for, as a lookup finds them.
pub type ActiveToken = (TokenGrant, TokenOwner);

/// [`ActiveToken`] as a left join reads it: both parts absent when no token matched.
pub type JoinedToken = (Option<TokenGrant>, Option<TokenOwner>);

/// An API token to look up within another query: its digest and the time at which it must be
/// active, as [`find_active_api_token`] takes them.
pub type TokenLookup<'a> = Option<(&'a str, NaiveDateTime)>;

/// The binds of a [`TokenLookup`]: without a token, a digest that matches nothing and a time any
/// database can take.
pub fn lookup_binds(token: TokenLookup<'_>) -> (Option<String>, NaiveDateTime) {
    match token {
        Some((digest, now)) => (Some(digest.to_owned()), now),
        None => (None, chrono::DateTime::UNIX_EPOCH.naive_utc()),
    }
}

/// `$query` left-joined with the active API token whose digest is `$digest` (an owned
/// `Option<String>`) and its owner, as [`find_active_api_token`] finds them; select them with
/// [`active_token_columns!`], read them with [`found_token`].
macro_rules! left_join_active_token {
    ($query:expr, $digest:expr, $now:expr) => {
        $query
            .left_join(
                $crate::db::schema::api_tokens::table.on(
                    $crate::db::schema::api_tokens::token_hash
                        .nullable()
                        .eq($digest)
                        .and($crate::db::schema::api_tokens::revoked_at.is_null())
                        .and($crate::db::schema::api_tokens::expires_at.gt($now)),
                ),
            )
            .left_join(
                $crate::db::schema::users::table
                    .on($crate::db::schema::users::id.eq($crate::db::schema::api_tokens::user_id)),
            )
    };
}
pub(crate) use left_join_active_token;

/// The columns of the token and its owner that [`left_join_active_token!`] joins.
macro_rules! active_token_columns {
    () => {
        (
            (
                $crate::db::schema::api_tokens::id,
                $crate::db::schema::api_tokens::scope,
                $crate::db::schema::api_tokens::expires_at,
            )
                .nullable(),
            (
                $crate::db::schema::users::id,
                $crate::db::schema::users::organization_id,
                $crate::db::schema::users::role,
            )
                .nullable(),
        )
    };
}
pub(crate) use active_token_columns;

/// The token and its owner as [`active_token_columns!`] read them, when found.
pub fn found_token((token, owner): JoinedToken) -> Option<ActiveToken> {
    token.zip(owner)
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
) -> QueryResult<Option<ActiveToken>> {
    crate::db::direct!(conn, |c| {
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(digest))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now))
            .select((TokenGrant::as_select(), TokenOwner::as_select()))
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
