pub mod get;
pub mod list;
pub mod update;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::db::organizations::{self, Member, OrganizationRef, OrganizationRow};
use crate::domain::id::OrganizationId;
use crate::domain::organization::OrganizationKind;
use crate::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationSummary {
    #[schema(value_type = String)]
    pub id: OrganizationId,
    pub name: String,
    pub romaji: String,
    pub kind: OrganizationKind,
    /// 全国地方公共団体コード (6 digits with check digit); null for bodies without one.
    #[schema(example = "202011")]
    pub lg_code: Option<String>,
}

impl OrganizationSummary {
    fn new(
        id: &OrganizationId,
        name: &str,
        romaji: &str,
        kind: OrganizationKind,
        lg_code: &Option<String>,
    ) -> Self {
        Self {
            id: id.clone(),
            name: name.to_owned(),
            romaji: romaji.to_owned(),
            kind,
            lg_code: lg_code.clone(),
        }
    }
}

impl From<&OrganizationRow> for OrganizationSummary {
    fn from(row: &OrganizationRow) -> Self {
        Self::new(&row.id, &row.name, &row.romaji, row.kind, &row.lg_code)
    }
}

impl From<&Member> for OrganizationSummary {
    fn from(row: &Member) -> Self {
        Self::new(&row.id, &row.name, &row.romaji, row.kind, &row.lg_code)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Population {
    #[schema(example = 375884)]
    pub value: i64,
    /// The date the figure describes (住民基本台帳の基準日).
    pub base_date: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationLink {
    #[schema(value_type = String)]
    pub id: OrganizationId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[schema(example = "信州 太郎")]
    pub name: String,
    #[schema(example = "企画課DX推進係")]
    pub department: Option<String>,
    #[schema(example = "dx@city.nagano.lg.jp")]
    pub email: Option<String>,
    #[schema(example = "026-000-0000")]
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    #[serde(flatten)]
    pub summary: OrganizationSummary,
    /// The figure in force now; null for the association.
    pub population: Option<Population>,
    /// Wide-area unions this body belongs to.
    pub unions: Vec<OrganizationLink>,
    /// For a wide-area union: its member municipalities.
    pub members: Vec<OrganizationLink>,
    /// Only for the body's own users and administrators.
    pub contacts: Option<Vec<Contact>>,
    pub updated_at: DateTime<Utc>,
}

/// Builds views of `rows`, loading their unions and members in two queries.
pub fn views(
    conn: &mut DbConnection,
    rows: Vec<OrganizationRow>,
    show_contacts: impl Fn(&OrganizationRow) -> bool,
) -> Result<Vec<OrganizationView>, ApiError> {
    let ids: Vec<OrganizationId> = rows.iter().map(|r| r.id.clone()).collect();
    let group = |pairs: Vec<(OrganizationId, OrganizationRef)>| {
        let mut grouped: BTreeMap<OrganizationId, Vec<OrganizationLink>> = BTreeMap::new();
        for (key, (id, name)) in pairs {
            grouped
                .entry(key)
                .or_default()
                .push(OrganizationLink { id, name });
        }
        grouped
    };
    let mut unions = group(organizations::unions_of(conn, &ids)?);
    let mut members = group(organizations::members_of(conn, &ids)?);
    rows.into_iter()
        .map(|row| {
            let contacts = if show_contacts(&row) {
                Some(serde_json::from_str(&row.contacts).map_err(anyhow::Error::from)?)
            } else {
                None
            };
            Ok(OrganizationView {
                summary: OrganizationSummary::from(&row),
                population: row
                    .population
                    .zip(row.population_base_date)
                    .map(|(value, base_date)| Population { value, base_date }),
                unions: unions.remove(&row.id).unwrap_or_default(),
                members: members.remove(&row.id).unwrap_or_default(),
                contacts,
                updated_at: row.updated_at.and_utc(),
            })
        })
        .collect()
}
