use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::users;
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::user::Role;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub invitation_token_hash: Option<String>,
    pub invitation_expires_at: Option<NaiveDateTime>,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, user: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(drop)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: &UserId) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_invitation(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::invitation_token_hash.eq(digest))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Users of one organization, or of all when `organization_id` is `None`, oldest first.
pub fn list(
    conn: &mut DbConnection,
    organization_id: Option<&OrganizationId>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<UserRow>, i64)> {
    let filtered = || {
        let mut query = users::table.into_boxed();
        if let Some(org) = organization_id {
            query = query.filter(users::organization_id.eq(org.clone()));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((users::created_at.asc(), users::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Sets the password and spends the invitation, only if the invitation is still unspent.
pub fn accept_invitation(
    conn: &mut DbConnection,
    id: &UserId,
    digest: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::invitation_token_hash.eq(digest)),
    )
    .set((
        users::password_hash.eq(password_hash),
        users::invitation_token_hash.eq(None::<String>),
        users::invitation_expires_at.eq(None::<NaiveDateTime>),
        users::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// The addresses of the activated users of `organizations` who have one of `roles`, with their
/// organization.
pub fn addresses(
    conn: &mut DbConnection,
    organizations: &[OrganizationId],
    roles: &[Role],
) -> QueryResult<Vec<(OrganizationId, String)>> {
    let roles: Vec<&'static str> = roles.iter().map(|r| r.into()).collect();
    users::table
        .filter(users::organization_id.eq_any(organizations))
        .filter(users::role.eq_any(roles))
        .filter(users::password_hash.is_not_null())
        .order((users::created_at.asc(), users::id.asc()))
        .select((users::organization_id, users::email))
        .load(conn)
}

/// The addresses of every activated administrator.
pub fn admin_addresses(conn: &mut DbConnection) -> QueryResult<Vec<(OrganizationId, String)>> {
    let admin: &'static str = Role::Admin.into();
    users::table
        .filter(users::role.eq(admin))
        .filter(users::password_hash.is_not_null())
        .order((users::created_at.asc(), users::id.asc()))
        .select((users::organization_id, users::email))
        .load(conn)
}
