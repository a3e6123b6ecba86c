use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::questions;
use crate::domain::id::{OrganizationId, ProcurementId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = questions, treat_none_as_null = true)]
pub struct QuestionRow {
    pub id: String,
    pub procurement_id: ProcurementId,
    pub organization_id: OrganizationId,
    pub asked_by: UserId,
    pub question: String,
    pub answer: Option<String>,
    pub answered_by: Option<UserId>,
    pub answered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &QuestionRow) -> QueryResult<()> {
    diesel::insert_into(questions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<QuestionRow>> {
    questions::table
        .find(id)
        .select(QuestionRow::as_select())
        .first(conn)
        .optional()
}

pub fn update(conn: &mut DbConnection, row: &QuestionRow) -> QueryResult<()> {
    diesel::update(questions::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(drop)
}

pub fn list_for_procurement(
    conn: &mut DbConnection,
    procurement_id: &ProcurementId,
) -> QueryResult<Vec<QuestionRow>> {
    questions::table
        .filter(questions::procurement_id.eq(procurement_id))
        .order((questions::created_at.asc(), questions::id.asc()))
        .select(QuestionRow::as_select())
        .load(conn)
}
