//! How to reach a person: the e-mail address and phone number of a contact, checked the same way
//! wherever a request carries one (a body's answer, an organization's contact list).

use crate::domain::email::Email;
use crate::domain::field_error::FieldError;
use crate::domain::limits::MAX_EMAIL;
use crate::domain::text::{Lines, optional_text};

pub const MAX_PHONE: usize = 30;

/// A contact's e-mail address (normalized) and phone number, each left out when blank.
#[derive(Debug)]
pub struct ContactDetails {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Checks a contact's e-mail address and phone number, with an error on `{prefix}email` or
/// `{prefix}phone` for each that is invalid.
pub fn clean_contact(
    prefix: &str,
    email: Option<&str>,
    phone: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> ContactDetails {
    let email_field = format!("{prefix}email");
    let email = optional_text(email, &email_field, MAX_EMAIL, Lines::One, errors).and_then(|e| {
        match Email::parse(&e) {
            Ok(email) => Some(email.to_string()),
            Err(error) => {
                errors.push(FieldError::new(
                    email_field.clone(),
                    "invalid_format",
                    error.to_string(),
                ));
                None
            }
        }
    });
    let phone_field = format!("{prefix}phone");
    let phone = optional_text(phone, &phone_field, MAX_PHONE, Lines::One, errors);
    if phone
        .as_ref()
        .is_some_and(|p| !p.chars().all(|c| c.is_ascii_digit() || "-+() ".contains(c)))
    {
        errors.push(FieldError::new(
            phone_field,
            "invalid_format",
            format!("a phone number has digits, spaces and - + ( ), at most {MAX_PHONE}"),
        ));
    }
    ContactDetails { email, phone }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_numbers_checked() {
        let mut errors = Vec::new();
        let contact = clean_contact(
            "contact.",
            Some(" DX@City.Nagano.lg.jp "),
            Some(" 026-000-0000 "),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(contact.email.as_deref(), Some("dx@city.nagano.lg.jp"));
        assert_eq!(contact.phone.as_deref(), Some("026-000-0000"));

        let contact = clean_contact("c.", Some("not an address"), Some("call me"), &mut errors);
        assert_eq!(
            (contact.email, contact.phone.as_deref()),
            (None, Some("call me"))
        );
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [("c.email", "invalid_format"), ("c.phone", "invalid_format")]
        );
    }

    #[test]
    fn blank_fields_are_left_out() {
        let mut errors = Vec::new();
        let contact = clean_contact("", Some("  "), None, &mut errors);
        assert!(errors.is_empty());
        assert_eq!((contact.email, contact.phone), (None, None));
    }
}
