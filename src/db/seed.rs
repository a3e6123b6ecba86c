//! The council's 89 member bodies, loaded from the data files in `seeds/` (embedded at build time)
//! through the same models as everything else. Loading twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail, ensure};
use chrono::NaiveDate;
use diesel::RunQueryDsl;
use serde::Deserialize;

use crate::db::organizations::{self, OrganizationRow, PopulationFigureRow};
use crate::db::{DbConnection, new_id};
use crate::domain::id::OrganizationId;
use crate::domain::lg_code::LgCode;
use crate::domain::organization::OrganizationKind;

const MUNICIPALITIES: &str = include_str!("../../seeds/municipalities.csv");
const WIDE_AREA_UNIONS: &str = include_str!("../../seeds/wide_area_unions.csv");
const COUNCIL_BODIES: &str = include_str!("../../seeds/council_bodies.csv");

/// Where the seeded population figures come from.
const POPULATION_SOURCE: &str = "住民基本台帳 (長野県DX戦略 2021 掲載値)";

#[derive(Debug, Deserialize)]
struct MunicipalityRecord {
    lg_code: String,
    name: String,
    kind: OrganizationKind,
    wide_area_unions: String,
    romaji: String,
    population: i64,
    population_base_date: NaiveDate,
}

#[derive(Debug, Deserialize)]
struct UnionRecord {
    name: String,
    romaji: String,
    member_count: usize,
    members: String,
    members_population_sum: i64,
}

#[derive(Debug, Deserialize)]
struct CouncilBodyRecord {
    lg_code: Option<String>,
    name: String,
    kind: OrganizationKind,
    romaji: String,
    population: Option<i64>,
    population_base_date: Option<NaiveDate>,
}

/// One body as the seed files describe it, checked.
struct Body {
    lg_code: Option<LgCode>,
    name: String,
    kind: OrganizationKind,
    romaji: String,
    population: Option<(i64, NaiveDate)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations_created: usize,
    pub memberships_created: usize,
    pub population_figures_created: usize,
}

fn records<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> anyhow::Result<Vec<T>> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading seeds/{file}"))
}

fn lg_code(value: &str) -> anyhow::Result<LgCode> {
    LgCode::parse(value).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Union name → member names.
type Memberships = BTreeMap<String, Vec<String>>;

/// The bodies in the order they are created, and the union memberships.
fn council() -> anyhow::Result<(Vec<Body>, Memberships)> {
    let municipalities: Vec<MunicipalityRecord> = records("municipalities.csv", MUNICIPALITIES)?;
    let unions: Vec<UnionRecord> = records("wide_area_unions.csv", WIDE_AREA_UNIONS)?;
    let others: Vec<CouncilBodyRecord> = records("council_bodies.csv", COUNCIL_BODIES)?;

    let mut bodies = Vec::new();
    for record in others {
        bodies.push(Body {
            lg_code: record.lg_code.as_deref().map(lg_code).transpose()?,
            name: record.name,
            kind: record.kind,
            romaji: record.romaji,
            population: record.population.zip(record.population_base_date),
        });
    }

    let mut declared: BTreeSet<(String, String)> = BTreeSet::new();
    let mut population_of = BTreeMap::new();
    for record in &municipalities {
        for union in record.wide_area_unions.split(';').filter(|u| !u.is_empty()) {
            declared.insert((union.to_owned(), record.name.clone()));
        }
        population_of.insert(
            record.name.clone(),
            (record.population, record.population_base_date),
        );
    }
    for record in municipalities {
        bodies.push(Body {
            lg_code: Some(lg_code(&record.lg_code)?),
            name: record.name,
            kind: record.kind,
            romaji: record.romaji,
            population: Some((record.population, record.population_base_date)),
        });
    }

    let mut memberships = BTreeMap::new();
    for union in unions {
        let members: Vec<String> = union.members.split(';').map(str::to_owned).collect();
        ensure!(
            members.len() == union.member_count,
            "{}: {} members listed, {} declared",
            union.name,
            members.len(),
            union.member_count
        );
        let mut sum = 0;
        let mut base_date = None;
        for member in &members {
            let Some((population, date)) = population_of.get(member) else {
                bail!("{} lists {member}, which is not a municipality", union.name);
            };
            ensure!(
                declared.remove(&(union.name.clone(), member.clone())),
                "{member} does not name {} as its union",
                union.name
            );
            sum += population;
            base_date = base_date.max(Some(*date));
        }
        ensure!(
            sum == union.members_population_sum,
            "{}: members sum to {sum}, file says {}",
            union.name,
            union.members_population_sum
        );
        bodies.push(Body {
            lg_code: None,
            name: union.name.clone(),
            kind: OrganizationKind::WideAreaUnion,
            romaji: union.romaji,
            population: base_date.map(|date| (sum, date)),
        });
        memberships.insert(union.name, members);
    }
    if let Some((union, member)) = declared.into_iter().next() {
        bail!("{member} names {union} as its union, but the union does not list it");
    }
    Ok((bodies, memberships))
}

/// Creates whatever of the council is missing. Figures an administrator added later stay in force.
pub fn seed_council(conn: &mut DbConnection) -> anyhow::Result<SeedReport> {
    let (bodies, memberships) = council()?;
    if let DbConnection::Postgres(pg) = conn {
        // Instances starting together on one database seed one after the other.
        diesel::sql_query("SELECT pg_advisory_xact_lock(2020001)").execute(pg)?;
    }
    // Seeding is start-up work (or the `seed` command), done before any request: the system's
    // time dates it.
    let now = crate::clock::utc_now();
    let mut report = SeedReport::default();
    let mut ids = BTreeMap::new();
    for body in bodies {
        let id = match organizations::find_by_name(conn, &body.name)? {
            Some(existing) => existing.id,
            None => {
                let row = OrganizationRow {
                    id: OrganizationId::generate(),
                    lg_code: body.lg_code.map(|c| c.to_string()),
                    name: body.name.clone(),
                    romaji: body.romaji,
                    kind: body.kind,
                    population: None,
                    population_base_date: None,
                    contacts: "[]".to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                organizations::insert(conn, &row)?;
                report.organizations_created += 1;
                row.id
            }
        };
        if let Some((population, base_date)) = body.population
            && organizations::find_population_figure(conn, &id, base_date)?.is_none()
        {
            organizations::add_population_figure(
                conn,
                &PopulationFigureRow {
                    id: new_id(),
                    organization_id: id.clone(),
                    population,
                    base_date,
                    source: Some(POPULATION_SOURCE.to_owned()),
                    recorded_by: None,
                    recorded_at: now,
                },
            )?;
            report.population_figures_created += 1;
        }
        ids.insert(body.name, id);
    }
    for (union, members) in memberships {
        let union_id = &ids[&union];
        for member in members {
            report.memberships_created +=
                organizations::add_membership(conn, union_id, &ids[&member])?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_files_describe_the_89_council_members_consistently() {
        let (bodies, memberships) = council().unwrap();
        assert_eq!(bodies.len(), 89);
        let count = |k| bodies.iter().filter(|b| b.kind == k).count();
        assert_eq!(count(OrganizationKind::City), 19);
        assert_eq!(count(OrganizationKind::Town), 23);
        assert_eq!(count(OrganizationKind::Village), 35);
        assert_eq!(count(OrganizationKind::WideAreaUnion), 10);
        assert_eq!(count(OrganizationKind::Association), 1);
        assert_eq!(count(OrganizationKind::Prefecture), 1);
        let in_unions = |name: &str| {
            memberships
                .values()
                .filter(|m| m.iter().any(|x| x == name))
                .count()
        };
        assert_eq!(in_unions("坂城町"), 2);
        assert_eq!(in_unions("長野市"), 1);
        let municipal_total: i64 = bodies
            .iter()
            .filter(|b| {
                matches!(
                    b.kind,
                    OrganizationKind::City | OrganizationKind::Town | OrganizationKind::Village
                )
            })
            .filter_map(|b| b.population.map(|p| p.0))
            .sum();
        assert_eq!(municipal_total, 2_087_307);
    }
}
