//! Who may see which change of the feed: the polling API (`GET /changes`) and the webhooks that
//! push the same changes judge it the same way.

use std::collections::BTreeMap;

use crate::db::audit::{Audience, ChangeRow};
use crate::db::organizations::OrganizationRow;
use crate::db::{DbConnection, organizations, procurements};
use crate::domain::id::{OrganizationId, ProcurementId};
use crate::error::ApiError;
use crate::service::procurements::{Procurement, shown_to};

/// Administrators see every change; anyone else council-wide changes and their own body's, of
/// procurements shown to that body. Remembers each procurement's answer.
pub struct Visibility {
    /// `None` for administrators.
    own: Option<OrganizationRow>,
    procurements: BTreeMap<ProcurementId, bool>,
}

impl Visibility {
    /// For a viewer of `organization`, or of everything when `admin`.
    pub fn new(
        conn: &mut DbConnection,
        organization: &OrganizationId,
        admin: bool,
    ) -> Result<Self, ApiError> {
        let own = if admin {
            None
        } else {
            organizations::find(conn, organization)?
        };
        Ok(Self {
            own,
            procurements: BTreeMap::new(),
        })
    }

    pub fn allows(&mut self, conn: &mut DbConnection, row: &ChangeRow) -> Result<bool, ApiError> {
        let Some(own) = &self.own else {
            return Ok(true);
        };
        let audience_ok = row.audience == Audience::COUNCIL || row.audience == *own.id;
        let Some(procurement_id) = row.procurement_id.as_ref().filter(|_| audience_ok) else {
            return Ok(audience_ok);
        };
        if let Some(&visible) = self.procurements.get(procurement_id) {
            return Ok(visible);
        }
        let visible = match procurements::find(conn, procurement_id)? {
            Some(row) => shown_to(&Procurement::decode(row)?, own, false),
            None => false,
        };
        self.procurements.insert(procurement_id.clone(), visible);
        Ok(visible)
    }
}
