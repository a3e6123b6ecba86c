use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{organizations, population_figures, union_memberships};
use crate::domain::id::{OrganizationId, UserId};
use crate::domain::lg_code::LgCode;
use crate::domain::organization::OrganizationKind;
use crate::domain::procurement::Candidate;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: OrganizationId,
    pub lg_code: Option<String>,
    pub name: String,
    pub romaji: String,
    pub kind: OrganizationKind,
    pub population: Option<i64>,
    pub population_base_date: Option<NaiveDate>,
    /// JSON array of contacts.
    pub contacts: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What eligibility and listings need of a body: no contacts, no timestamps.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct Member {
    pub id: OrganizationId,
    pub lg_code: Option<String>,
    pub name: String,
    pub romaji: String,
    pub kind: OrganizationKind,
    pub population: Option<i64>,
}

/// A body as a link names it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct BodyName {
    pub id: OrganizationId,
    pub name: String,
}

/// What eligibility rules judge of a body, and no more (a list reads it for the caller's body
/// on every request).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct Eligible {
    pub id: OrganizationId,
    pub kind: OrganizationKind,
    pub population: Option<i64>,
}

/// Every council member, in code order.
pub fn members(conn: &mut DbConnection) -> QueryResult<Vec<Member>> {
    organizations::table
        .order((
            organizations::lg_code.is_null(),
            organizations::lg_code,
            organizations::name,
        ))
        .select(Member::as_select())
        .load(conn)
}

/// A stored body that eligibility rules can judge.
pub trait AsCandidate {
    fn candidate(&self) -> Candidate<'_>;
}

/// Each of the rows that carry a body's id, kind and population judges as that body.
macro_rules! as_candidate {
    ($($row:ty),*) => {$(
        impl AsCandidate for $row {
            fn candidate(&self) -> Candidate<'_> {
                Candidate {
                    id: &self.id,
                    kind: self.kind,
                    population: self.population,
                }
            }
        }
    )*};
}
as_candidate!(Member, Eligible, OrganizationRow);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = population_figures)]
pub struct PopulationFigureRow {
    pub id: String,
    pub organization_id: OrganizationId,
    pub population: i64,
    pub base_date: NaiveDate,
    pub source: Option<String>,
    pub recorded_by: Option<UserId>,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Default)]
pub struct ListFilter {
    pub kind: Option<OrganizationKind>,
    /// Only members of this union.
    pub union_id: Option<OrganizationId>,
    /// Substring of the kanji name or (case-insensitively) the romaji.
    pub name: Option<String>,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// `LIKE` pattern matching `text` anywhere, with the wildcards in `text` taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub fn list(
    conn: &mut DbConnection,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<OrganizationRow>, i64)> {
    let filtered = || {
        let mut query = organizations::table.into_boxed();
        if let Some(kind) = filter.kind {
            query = query.filter(organizations::kind.eq(kind));
        }
        if let Some(union_id) = &filter.union_id {
            query = query.filter(
                organizations::id.eq_any(
                    union_memberships::table
                        .filter(union_memberships::union_id.eq(union_id))
                        .select(union_memberships::member_id),
                ),
            );
        }
        if let Some(name) = &filter.name {
            let pattern = contains_pattern(name);
            query = query.filter(
                organizations::name
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(organizations::romaji)
                        .like(pattern.to_lowercase())
                        .escape('\\')),
            );
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    // Bodies with a code first, in code order (prefecture, then cities, towns and villages by
    // district), then the unions and the association by name.
    let rows = filtered()
        .order((
            organizations::lg_code.is_null(),
            organizations::lg_code,
            organizations::name,
        ))
        .offset(offset)
        .limit(limit)
        .select(OrganizationRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn find(conn: &mut DbConnection, id: &OrganizationId) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()
}

/// How a request names an organization: by id, or by its 団体コード (checked by parsing).
#[derive(Debug, Clone)]
pub enum Key {
    Id(OrganizationId),
    LgCode(LgCode),
}

impl Key {
    /// The id and the code to compare with, one of them `None`: one statement text for both.
    pub fn binds(&self) -> (Option<OrganizationId>, Option<String>) {
        match self {
            Self::Id(id) => (Some(id.clone()), None),
            Self::LgCode(code) => (None, Some(code.as_str().to_owned())),
        }
    }
}

/// What eligibility needs of one body.
pub fn member(conn: &mut DbConnection, id: &OrganizationId) -> QueryResult<Option<Member>> {
    organizations::table
        .find(id)
        .select(Member::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_lg_code(
    conn: &mut DbConnection,
    lg_code: &str,
) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .filter(organizations::lg_code.eq(lg_code))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<OrganizationRow>> {
    organizations::table
        .filter(organizations::name.eq(name))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &OrganizationRow) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// (id, name) of an organization, as listed beside another.
pub type OrganizationRef = (OrganizationId, String);

/// For each of `member_ids`, the unions it belongs to: (member id, (union id, union name)).
pub fn unions_of(
    conn: &mut DbConnection,
    member_ids: &[OrganizationId],
) -> QueryResult<Vec<(OrganizationId, OrganizationRef)>> {
    union_memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(union_memberships::union_id)))
        .filter(union_memberships::member_id.eq_any(member_ids))
        .order(organizations::name)
        .select((
            union_memberships::member_id,
            (organizations::id, organizations::name),
        ))
        .load(conn)
}

/// For each of `union_ids`, its members: (union id, (member id, member name)), in code order.
pub fn members_of(
    conn: &mut DbConnection,
    union_ids: &[OrganizationId],
) -> QueryResult<Vec<(OrganizationId, OrganizationRef)>> {
    union_memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(union_memberships::member_id)))
        .filter(union_memberships::union_id.eq_any(union_ids))
        .order(organizations::lg_code)
        .select((
            union_memberships::union_id,
            (organizations::id, organizations::name),
        ))
        .load(conn)
}

pub fn add_membership(
    conn: &mut DbConnection,
    union_id: &OrganizationId,
    member_id: &OrganizationId,
) -> QueryResult<usize> {
    let exists: i64 = union_memberships::table
        .filter(union_memberships::union_id.eq(union_id))
        .filter(union_memberships::member_id.eq(member_id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(0);
    }
    diesel::insert_into(union_memberships::table)
        .values((
            union_memberships::union_id.eq(union_id),
            union_memberships::member_id.eq(member_id),
        ))
        .execute(conn)
}

pub fn population_history(
    conn: &mut DbConnection,
    organization_id: &OrganizationId,
) -> QueryResult<Vec<PopulationFigureRow>> {
    population_figures::table
        .filter(population_figures::organization_id.eq(organization_id))
        .order(population_figures::base_date.desc())
        .select(PopulationFigureRow::as_select())
        .load(conn)
}

pub fn find_population_figure(
    conn: &mut DbConnection,
    organization_id: &OrganizationId,
    base_date: NaiveDate,
) -> QueryResult<Option<PopulationFigureRow>> {
    population_figures::table
        .filter(population_figures::organization_id.eq(organization_id))
        .filter(population_figures::base_date.eq(base_date))
        .select(PopulationFigureRow::as_select())
        .first(conn)
        .optional()
}

/// Each body's population in force on `date`: its newest figure with a base date on or before it
/// (the body's own current figure counts as one). Bodies without such a figure are absent.
pub fn populations_on(
    conn: &mut DbConnection,
    date: NaiveDate,
) -> QueryResult<HashMap<OrganizationId, (i64, NaiveDate)>> {
    let figures: Vec<(OrganizationId, i64, NaiveDate)> = population_figures::table
        .filter(population_figures::base_date.le(date))
        .select((
            population_figures::organization_id,
            population_figures::population,
            population_figures::base_date,
        ))
        .load(conn)?;
    let current: Vec<(OrganizationId, Option<i64>, Option<NaiveDate>)> = organizations::table
        .filter(organizations::population_base_date.le(date))
        .select((
            organizations::id,
            organizations::population,
            organizations::population_base_date,
        ))
        .load(conn)?;
    let current = current
        .into_iter()
        .filter_map(|(id, population, date)| Some((id, population?, date?)));
    let mut in_force: HashMap<OrganizationId, (i64, NaiveDate)> = HashMap::new();
    for (id, population, base_date) in figures.into_iter().chain(current) {
        let newer = in_force.get(&id).is_none_or(|&(_, seen)| base_date > seen);
        if newer {
            in_force.insert(id, (population, base_date));
        }
    }
    Ok(in_force)
}

/// Records a figure and makes the newest figure by base date the one in force.
pub fn add_population_figure(
    conn: &mut DbConnection,
    figure: &PopulationFigureRow,
) -> QueryResult<()> {
    diesel::insert_into(population_figures::table)
        .values(figure)
        .execute(conn)?;
    let latest: PopulationFigureRow = population_figures::table
        .filter(population_figures::organization_id.eq(&figure.organization_id))
        .order(population_figures::base_date.desc())
        .select(PopulationFigureRow::as_select())
        .first(conn)?;
    diesel::update(organizations::table.find(&figure.organization_id))
        .set((
            organizations::population.eq(latest.population),
            organizations::population_base_date.eq(latest.base_date),
            organizations::updated_at.eq(figure.recorded_at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn set_contacts(
    conn: &mut DbConnection,
    id: &OrganizationId,
    contacts_json: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(organizations::table.find(id))
        .set((
            organizations::contacts.eq(contacts_json),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    organizations::table.count().get_result(conn)
}

/// The contact lists (JSON) of `organizations`.
pub fn contacts_of(
    conn: &mut DbConnection,
    ids: &[OrganizationId],
) -> QueryResult<Vec<(OrganizationId, String)>> {
    organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::contacts))
        .load(conn)
}
