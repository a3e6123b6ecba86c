//! Ids of the things requests name, one type each, so that an organization's id cannot be passed
//! where a round's is expected. Each is the text of a UUID (v7, so that ids sort by creation time)
//! in the database and in JSON; one read from a request is only a claim, until a lookup finds it.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrganizationId(String);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcurementId(String);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoundId(String);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

macro_rules! id_methods {
    ($($ty:ident),+) => {$(
        impl $ty {
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }
        }

        /// Read as the text it is wherever any id will do: audit entries, cache keys, messages.
        impl Deref for $ty {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $ty {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Quoted, as a string: messages show an id the client sent as `{id:?}`.
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )+};
}

id_methods!(OrganizationId, ProcurementId, RoundId, UserId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_string_in_json() {
        let id = RoundId::from("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\"");
        assert_eq!(serde_json::from_str::<RoundId>(&json).unwrap(), id);
        assert_eq!(format!("{id:?}"), json);
    }
}
