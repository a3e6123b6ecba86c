//! Finding council members by what callers know them by.

use anyhow::Context as _;

use crate::db::DbConnection;
use chrono::NaiveDateTime;

use crate::db::audit::{self, Actor};
use crate::db::new_id;
use crate::db::organizations::{self, OrganizationRow, PopulationFigureRow};
use crate::domain::audit::{Action, EntityType};
use crate::domain::id::OrganizationId;
use crate::domain::lg_code::LgCode;
use crate::domain::organization::{OrganizationKind, PopulationInput};
use crate::error::ApiError;

/// What `key` names: an id, or a 6-digit local government code; `None` for a code with a wrong
/// check digit, which names no organization.
pub fn parse_key(key: &str) -> Option<organizations::Key> {
    if LgCode::is_code_shaped(key) {
        LgCode::parse(key).ok().map(organizations::Key::LgCode)
    } else {
        Some(organizations::Key::Id(OrganizationId::from(key.to_owned())))
    }
}

/// The organization with this id or 6-digit local government code, if any; a code with a wrong
/// check digit names none.
pub fn find(conn: &mut DbConnection, key: &str) -> diesel::QueryResult<Option<OrganizationRow>> {
    match parse_key(key) {
        Some(organizations::Key::LgCode(code)) => {
            organizations::find_by_lg_code(conn, code.as_str())
        }
        Some(organizations::Key::Id(id)) => organizations::find(conn, &id),
        None => Ok(None),
    }
}

/// `find`, or why not: 422 for a code with a wrong check digit, 404 for no such organization.
pub fn resolve(conn: &mut DbConnection, key: &str) -> Result<OrganizationRow, ApiError> {
    if LgCode::is_code_shaped(key) {
        LgCode::parse(key)
            .map_err(|e| ApiError::invalid_field("lg_code", "invalid_lg_code", e.to_string()))?;
    }
    let found = find(conn, key).context("finding an organization")?;
    found.ok_or_else(|| {
        ApiError::not_found(
            "organization_not_found",
            format!("No organization has the id or code {key:?}."),
        )
    })
}

/// Records a new population figure and/or replaces the contacts (already checked, as stored
/// JSON) of the organization `key` names; the history of figures is never overwritten.
pub fn update(
    conn: &mut DbConnection,
    key: &str,
    population: Option<PopulationInput>,
    contacts: Option<String>,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<OrganizationRow, ApiError> {
    let row = resolve(conn, key)?;
    if let Some(input) = population {
        if organizations::find_population_figure(conn, &row.id, input.base_date)?.is_some() {
            return Err(ApiError::conflict(
                "population_figure_exists",
                format!(
                    "{} already has a figure for {}; history is never overwritten.",
                    row.name, input.base_date
                ),
            ));
        }
        organizations::add_population_figure(
            conn,
            &PopulationFigureRow {
                id: new_id(),
                organization_id: row.id.clone(),
                population: input.value,
                base_date: input.base_date,
                source: input.source,
                recorded_by: actor.user_id.clone(),
                recorded_at: now,
            },
        )?;
    }
    if let Some(json) = contacts {
        organizations::set_contacts(conn, &row.id, &json, now)?;
    }
    let after =
        organizations::find(conn, &row.id)?.context("the updated organization is missing")?;
    let facts = |o: &organizations::OrganizationRow| {
        serde_json::json!({
            "population": o.population,
            "population_base_date": o.population_base_date,
            "contacts": serde_json::from_str::<serde_json::Value>(&o.contacts).unwrap_or_default(),
        })
    };
    audit::record_simple(
        conn,
        actor,
        (EntityType::Organization, &row.id),
        Action::Updated,
        Some(facts(&row)),
        Some(facts(&after)),
        now,
    )?;
    Ok(after)
}

/// The wide-area union named by its id or its name (422 when the key names no union).
pub fn find_union(conn: &mut DbConnection, key: &str) -> Result<OrganizationId, ApiError> {
    let found = match organizations::find(conn, &OrganizationId::from(key.to_owned()))? {
        Some(row) => Some(row),
        None => organizations::find_by_name(conn, key)?,
    };
    found
        .filter(|u| u.kind == OrganizationKind::WideAreaUnion)
        .map(|u| u.id)
        .ok_or_else(|| {
            ApiError::not_found(
                "union_not_found",
                format!("No wide-area union has the id or name {key:?}."),
            )
        })
}
