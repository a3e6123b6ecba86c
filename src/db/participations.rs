use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::audit::ChangeRows;
use crate::db::organizations::Member;
use crate::db::schema::{organizations, participation_history, participations};
use crate::db::together::{Fixed, UpdateWhere, execute_together};
use crate::db::{DbConnection, new_id};
use crate::domain::id::{OrganizationId, RoundId, UserId};
use crate::domain::participation::ParticipationStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(
    table_name = participations,
    treat_none_as_null = true,
    treat_none_as_default_value = false
)]
pub struct ParticipationRow {
    pub id: String,
    pub round_id: RoundId,
    pub organization_id: OrganizationId,
    pub status: ParticipationStatus,
    /// JSON list of option codes.
    pub selected_options: String,
    pub declared_quantity: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub note: Option<String>,
    pub version: i64,
    pub updated_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = participation_history, treat_none_as_default_value = false)]
pub struct HistoryRow {
    pub id: String,
    pub participation_id: String,
    pub version: i64,
    pub status: ParticipationStatus,
    pub selected_options: String,
    pub declared_quantity: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub note: Option<String>,
    pub reason: Option<String>,
    pub changed_by: Option<UserId>,
    pub changed_at: NaiveDateTime,
}

pub fn find(
    conn: &mut DbConnection,
    round_id: &RoundId,
    organization_id: &OrganizationId,
) -> QueryResult<Option<ParticipationRow>> {
    participations::table
        .filter(participations::round_id.eq(round_id))
        .filter(participations::organization_id.eq(organization_id))
        .select(ParticipationRow::as_select())
        .first(conn)
        .optional()
}

/// The body's answer in the round, if any. On PostgreSQL the row is locked until the transaction
/// ends (`FOR UPDATE`), so that two coordinators answering at the same instant change it one
/// after the other and its history stays unbroken; SQLite's write transactions exclude each
/// other already.
pub fn find_for_update(
    conn: &mut DbConnection,
    round_id: &RoundId,
    organization_id: &OrganizationId,
) -> QueryResult<Option<ParticipationRow>> {
    match conn {
        DbConnection::Postgres(pg) => participations::table
            .filter(participations::round_id.eq(round_id))
            .filter(participations::organization_id.eq(organization_id))
            .select(ParticipationRow::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(_) => find(conn, round_id, organization_id),
    }
}

/// Writes `row`, inserted when `is_new`, else updated, with its new version in the history and
/// the change's audit event and feed entry (`recorded`): on PostgreSQL in one statement, or two
/// for a new answer. False, with nothing written, when the answer is new but another writer
/// inserted the body's answer first (it has committed by then): read it again and retry as an
/// update.
pub fn save(
    conn: &mut DbConnection,
    row: &ParticipationRow,
    is_new: bool,
    reason: Option<&str>,
    recorded: &ChangeRows<'_>,
) -> QueryResult<bool> {
    let history = HistoryRow {
        id: new_id(),
        participation_id: row.id.clone(),
        version: row.version,
        status: row.status,
        selected_options: row.selected_options.clone(),
        declared_quantity: row.declared_quantity,
        contact_name: row.contact_name.clone(),
        contact_email: row.contact_email.clone(),
        contact_phone: row.contact_phone.clone(),
        note: row.note.clone(),
        reason: reason.map(str::to_owned),
        changed_by: row.updated_by.clone(),
        changed_at: row.updated_at,
    };
    let history = diesel::insert_into(participation_history::table).values(&history);
    let (event, entry) = recorded.statements();
    if is_new {
        if !insert_new(conn, row)? {
            return Ok(false);
        }
        execute_together(conn, (history, event, entry))?;
    } else {
        struct UpdateParticipation;
        let update = Fixed::<UpdateParticipation, _>::new(UpdateWhere::new(
            participations::table,
            row.as_changeset(),
            participations::id.eq(&row.id),
        ));
        execute_together(conn, (update, history, event, entry))?;
    }
    Ok(true)
}

/// Inserts a new answer unless the body has one (on PostgreSQL, where another transaction may
/// have inserted it since this one looked: `ON CONFLICT DO NOTHING` waits for it to end).
fn insert_new(conn: &mut DbConnection, row: &ParticipationRow) -> QueryResult<bool> {
    let insert = diesel::insert_into(participations::table).values(row);
    match conn {
        DbConnection::Postgres(pg) => {
            struct InsertNewParticipation;
            let inserted = Fixed::<InsertNewParticipation, _>::new(
                insert
                    .on_conflict((participations::round_id, participations::organization_id))
                    .do_nothing(),
            )
            .execute(pg)?;
            Ok(inserted == 1)
        }
        DbConnection::Sqlite(_) => insert.execute(conn).map(|_| true),
    }
}

/// The round's participations with each body's name, in code order.
pub fn list_for_round(
    conn: &mut DbConnection,
    round_id: &RoundId,
) -> QueryResult<Vec<(ParticipationRow, String)>> {
    participations::table
        .inner_join(organizations::table.on(organizations::id.eq(participations::organization_id)))
        .filter(participations::round_id.eq(round_id))
        .order((
            organizations::lg_code.is_null(),
            organizations::lg_code,
            organizations::name,
        ))
        .select((ParticipationRow::as_select(), organizations::name))
        .load(conn)
}

/// Every council member with its answer in the round, if any, in code order: the round's
/// answers and the bodies that have not answered, in one query.
pub fn roll(
    conn: &mut DbConnection,
    round_id: &RoundId,
) -> QueryResult<Vec<(Member, Option<ParticipationRow>)>> {
    let mut roll: Vec<(Member, Option<ParticipationRow>)> = crate::db::direct!(conn, |c| {
        organizations::table
            .left_join(
                participations::table.on(participations::organization_id
                    .eq(organizations::id)
                    .and(participations::round_id.eq(round_id))),
            )
            .select((Member::as_select(), participations::all_columns.nullable()))
            .load(c)
    })?;
    // Sorted here rather than by the database: sorting the wide joined rows took PostgreSQL a
    // seventh of its time for the participation list; this sorts a hundred rows by byte order
    // (SQLite's order, and PostgreSQL's under C.UTF-8, whatever the database's collation).
    roll.sort_unstable_by(|(a, _), (b, _)| {
        (a.lg_code.is_none(), &a.lg_code, &a.name).cmp(&(b.lg_code.is_none(), &b.lg_code, &b.name))
    });
    Ok(roll)
}

pub fn history(conn: &mut DbConnection, participation_id: &str) -> QueryResult<Vec<HistoryRow>> {
    participation_history::table
        .filter(participation_history::participation_id.eq(participation_id))
        .order(participation_history::version.asc())
        .select(HistoryRow::as_select())
        .load(conn)
}

/// Ids of the bodies that have answered in these rounds: (round id, organization id).
pub fn responded(
    conn: &mut DbConnection,
    round_ids: &[RoundId],
) -> QueryResult<Vec<(RoundId, OrganizationId)>> {
    participations::table
        .filter(participations::round_id.eq_any(round_ids))
        .select((participations::round_id, participations::organization_id))
        .load(conn)
}

/// Every recorded version of the round's answers, oldest first (ties in a stable order):
/// (participation id, status, when).
pub fn status_history(
    conn: &mut DbConnection,
    round_id: &RoundId,
) -> QueryResult<Vec<(String, ParticipationStatus, NaiveDateTime)>> {
    participation_history::table
        .inner_join(
            participations::table
                .on(participations::id.eq(participation_history::participation_id)),
        )
        .filter(participations::round_id.eq(round_id))
        .order((
            participation_history::changed_at.asc(),
            participation_history::participation_id.asc(),
            participation_history::version.asc(),
        ))
        .select((
            participation_history::participation_id,
            participation_history::status,
            participation_history::changed_at,
        ))
        .load(conn)
}
