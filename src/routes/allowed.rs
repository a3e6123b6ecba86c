//! The methods each documented path takes, so that a known path asked with another method is
//! answered 405 with `Allow` (RFC 9110), not 404 as if it did not exist.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// Paths of the document, each as its segments, with the methods it takes.
pub struct AllowedMethods(Vec<(Vec<String>, Vec<Method>)>);

impl AllowedMethods {
    pub fn from_document(document: &OpenApi) -> Self {
        let paths = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<Method> = crate::openapi::operations(item)
                    .map(|(method, _)| method)
                    .collect();
                // actix answers HEAD wherever it answers GET.
                if item.get.is_some() {
                    methods.push(Method::HEAD);
                }
                (path.split('/').map(str::to_owned).collect(), methods)
            })
            .collect();
        Self(paths)
    }

    /// The methods `path` takes, when the document has it.
    pub fn of(&self, path: &str) -> Option<&[Method]> {
        let asked: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == asked.len()
                    && template
                        .iter()
                        .zip(&asked)
                        .all(|(t, a)| segment_matches(t, a))
            })
            .map(|(_, methods)| methods.as_slice())
    }
}

/// `{id}` takes any non-empty segment; `{token}.ics` any that ends so; text only itself.
fn segment_matches(template: &str, asked: &str) -> bool {
    match (template.find('{'), template.find('}')) {
        (Some(open), Some(close)) if open < close => {
            let (prefix, suffix) = (&template[..open], &template[close + 1..]);
            asked.len() > prefix.len() + suffix.len()
                && asked.starts_with(prefix)
                && asked.ends_with(suffix)
        }
        _ => template == asked,
    }
}

/// The answer for a request no route took: 405 with `Allow` on a documented path, else 404.
pub async fn no_route(
    req: HttpRequest,
    allowed: Option<web::Data<AllowedMethods>>,
) -> HttpResponse {
    if let Some(methods) = allowed.as_ref().and_then(|a| a.of(req.path())) {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        let mut response = ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} {} is not an operation; this path takes {}.",
                req.method(),
                req.path(),
                allow.join(", ")
            ),
        )
        .error_response();
        if let Ok(value) = header::HeaderValue::from_str(&allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    }
    crate::error::route_not_found(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths_only() {
        assert!(segment_matches("{id}", "abc"));
        assert!(!segment_matches("{id}", ""));
        assert!(segment_matches("{token}.ics", "kydcal_x.ics"));
        assert!(!segment_matches("{token}.ics", ".ics"));
        assert!(!segment_matches("{token}.ics", "kydcal_x.ical"));
        assert!(segment_matches(
            "participations:import",
            "participations:import"
        ));
        assert!(!segment_matches("participations", "participations:import"));
    }
}
