use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use crate::db::organizations::{BodyName, Eligible};
use crate::db::rounds::OpenRoundRow;
use crate::db::schema::{organizations, participations, procurements, rounds, users};
use crate::db::tokens::{self, ActiveToken, TokenLookup};
use crate::db::{DbConnection, columns};
use crate::domain::id::{OrganizationId, ProcurementId, UserId};
use crate::domain::procurement::{Category, ProcurementStatus};
use crate::domain::user::Role;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = procurements, treat_none_as_null = true)]
pub struct ProcurementRow {
    pub id: ProcurementId,
    pub title: String,
    pub summary: String,
    pub category: Category,
    pub lead_organization_id: OrganizationId,
    pub mandatory: bool,
    pub small_body_friendly: bool,
    /// JSON `Eligibility`.
    pub eligibility: String,
    /// JSON list of `ProcurementOption`.
    pub options: String,
    /// JSON list of `Document`.
    pub documents: String,
    /// JSON `CostModel`.
    pub cost_model: String,
    pub contract_start_fy: i32,
    pub contract_end_fy: i32,
    pub status: ProcurementStatus,
    pub cancel_reason: Option<String>,
    pub version: i64,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &ProcurementRow) -> QueryResult<()> {
    diesel::insert_into(procurements::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &ProcurementId) -> QueryResult<Option<ProcurementRow>> {
    procurements::table
        .find(id)
        .select(ProcurementRow::as_select())
        .first(conn)
        .optional()
}

/// Writes `row` if its stored version is still `expected_version`; false when someone else
/// changed it first.
pub fn update(
    conn: &mut DbConnection,
    row: &ProcurementRow,
    expected_version: i64,
) -> QueryResult<bool> {
    diesel::update(
        procurements::table
            .find(&row.id)
            .filter(procurements::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)
    .map(|n| n == 1)
}

/// What a list of procurements is filtered by; filtering by eligibility happens in the caller.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub status: Option<ProcurementStatus>,
    /// Whether drafts are listed (administrators), when no `status` is asked for.
    pub drafts: bool,
    pub category: Option<Category>,
    pub small_body_friendly: Option<bool>,
}

impl Filter {
    /// Every procurement, drafts too.
    pub fn everything() -> Self {
        Self {
            status: None,
            drafts: true,
            category: None,
            small_body_friendly: None,
        }
    }
}

/// `filter` as one condition whose text is the same whatever it asks (`column = $1 OR $1 IS
/// NULL` for each part), so that the statement holding it is prepared once, on PostgreSQL and
/// SQLite alike (a list of values, `IN (…)`, would be prepared anew each time on SQLite).
/// With a second condition, drafts are also listed where it holds.
macro_rules! admitted_by {
    ($filter:expr) => {
        admitted_by!($filter, false.into_sql::<Bool>())
    };
    ($filter:expr, $drafts_also:expr) => {{
        let filter: Filter = $filter;
        let status = filter.status.into_sql::<Nullable<Text>>();
        let category = filter.category.into_sql::<Nullable<Text>>();
        let flag = filter.small_body_friendly.into_sql::<Nullable<Bool>>();
        procurements::status
            .nullable()
            .eq(status)
            .or(status.is_null().and(
                procurements::status
                    .ne(ProcurementStatus::Draft)
                    .or(filter.drafts.into_sql::<Bool>().or($drafts_also)),
            ))
            .and(
                procurements::category
                    .nullable()
                    .eq(category)
                    .or(category.is_null()),
            )
            .and(
                procurements::small_body_friendly
                    .nullable()
                    .eq(flag)
                    .or(flag.is_null()),
            )
    }};
}

/// Every procurement `filter` admits, newest first.
pub fn list(conn: &mut DbConnection, filter: Filter) -> QueryResult<Vec<ProcurementRow>> {
    procurements::table
        .filter(admitted_by!(filter))
        .order((procurements::created_at.desc(), procurements::id.desc()))
        .select(ProcurementRow::as_select())
        .load(conn)
}

/// A procurement in a list, with its lead organization, and one of its open rounds with whether
/// the caller's body has answered it.
pub type ListedRow = (ProcurementRow, BodyName, Option<(OpenRoundRow, bool)>);

/// Whose list [`list_with_open_rounds`] reads: a body known already, or the body of the active
/// API token that the same query looks up (drafts then listed when its owner is an
/// administrator).
pub enum Viewer<'a> {
    Body(&'a OrganizationId),
    Token(TokenLookup<'a>),
}

/// Every procurement `filter` admits, newest first, each with its lead organization and each of
/// its open rounds with whether the viewer's body has answered it, the viewer's own body (which
/// shows it what) and, for [`Viewer::Token`], the token and its owner, in one query: a
/// procurement with no open round comes once, one with several once per round, one after the
/// other. No procurement, no body or no such token: `own` is `None`.
pub fn list_with_open_rounds(
    conn: &mut DbConnection,
    filter: Filter,
    viewer: Viewer<'_>,
) -> QueryResult<ListedWithOwn> {
    let own = diesel::alias!(organizations as own);
    // Each procurement with its lead, the caller's body, an open round and the answer to it.
    type Found = (
        ProcurementRow,
        BodyName,
        Eligible,
        Option<OpenRoundRow>,
        Option<String>,
    );
    // The same, with the token and its owner.
    type WithToken = (
        ProcurementRow,
        BodyName,
        Eligible,
        Option<OpenRoundRow>,
        Option<String>,
        tokens::JoinedToken,
    );
    // Written once, built for each way of naming the viewer's body (a statement of its own for
    // each: a condition that served both made the known body's list a seventh slower). Only the
    // token's statement joins the token: the join would cost a known body's every execution two
    // relations and their columns for nothing.
    macro_rules! listing {
        ($listed:expr, $viewers_body:expr, $drafts_also:expr $(, $token:expr)?) => {
            // The binds are owned: with an alias in it, diesel's `load` takes the query only as
            // 'static.
            crate::db::direct!(conn, |c, Db| {
                $listed
                    .inner_join(own.on(own.field(organizations::id).nullable().eq($viewers_body)))
                    .left_join(
                        rounds::table.on(rounds::procurement_id
                            .eq(procurements::id)
                            .and(rounds::state.eq(columns::OpenState))),
                    )
                    .left_join(
                        participations::table.on(participations::round_id
                            .eq(rounds::id)
                            .and(participations::organization_id.nullable().eq($viewers_body))),
                    )
                    .filter(admitted_by!(filter, $drafts_also))
                    .order((
                        procurements::created_at.desc(),
                        procurements::id.desc(),
                        rounds::opens_at.asc(),
                        rounds::id.asc(),
                    ))
                    .select((
                        ProcurementRow::as_select(),
                        BodyName::as_select(),
                        own.fields(<Eligible as Selectable<Db>>::construct_selection()),
                        (rounds::id, rounds::kind, rounds::closes_at).nullable(),
                        participations::id.nullable(),
                        $($token,)?
                    ))
                    .load(c)
            })
        };
    }
    let with_lead = || {
        procurements::table.inner_join(
            organizations::table.on(organizations::id.eq(procurements::lead_organization_id)),
        )
    };
    let (found, token): (Vec<Found>, _) = match viewer {
        Viewer::Body(id) => {
            let found = listing!(
                with_lead(),
                id.clone().into_sql::<Nullable<Text>>(),
                false.into_sql::<Bool>()
            )?;
            (found, None)
        }
        Viewer::Token(token) => {
            let (digest, now) = tokens::lookup_binds(token);
            let found: Vec<WithToken> = listing!(
                tokens::left_join_active_token!(with_lead(), digest.clone(), now),
                users::organization_id.nullable(),
                users::role.nullable().eq(Role::Admin),
                tokens::active_token_columns!()
            )?;
            let token = found
                .first()
                .and_then(|row| tokens::found_token(row.5.clone()));
            let found = found
                .into_iter()
                .map(|(procurement, lead, own, round, answer, _)| {
                    (procurement, lead, own, round, answer)
                })
                .collect();
            (found, token)
        }
    };
    let own = found.first().map(|(_, _, own, _, _)| own.clone());
    let rows = found
        .into_iter()
        .map(|(procurement, lead, _, round, answer)| {
            (procurement, lead, round.map(|r| (r, answer.is_some())))
        })
        .collect();
    Ok((rows, own, token))
}

/// What [`list_with_open_rounds`] reads: the rows, the viewer's body and the token it looked up.
pub type ListedWithOwn = (Vec<ListedRow>, Option<Eligible>, Option<ActiveToken>);
