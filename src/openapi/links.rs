//! Links between operations (OpenAPI `links`): what a client, or a stateful tester, does next with
//! what an answer returns. Creating a procurement leads to reading, editing, publishing it and
//! opening rounds; a round leads to its actions, answers and shares; and so on.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// (operation, status, the id it returns as JSON Pointer, operations taking that id as `id`).
const LINKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "create_procurement",
        "201",
        "/id",
        &[
            "get_procurement",
            "update_procurement",
            "publish_procurement",
            "cancel_procurement",
            "create_round",
            "list_rounds",
            "ask_question",
            "list_questions",
        ],
    ),
    (
        "create_round",
        "201",
        "/id",
        &[
            "get_round",
            "update_round",
            "open_round",
            "close_round",
            "cancel_round",
            "reopen_round",
            "estimate",
            "what_if",
            "list_participations",
            "export_participations",
            "non_respondents",
            "remind",
            "finalize",
            "list_allocations",
            "get_allocation",
        ],
    ),
    ("ask_question", "201", "/id", &["answer_question"]),
    (
        "register_webhook",
        "201",
        "/id",
        &[
            "get_webhook",
            "delete_webhook",
            "webhook_deliveries",
            "rotate_webhook_secret",
        ],
    ),
    ("create_token", "201", "/id", &["revoke_token"]),
];

/// Adds `LINKS` to the responses they start from; the places it did not find.
pub fn apply(document: &mut OpenApi) -> Vec<&'static str> {
    let mut unplaced = Vec::new();
    for &(source, status, pointer, targets) in LINKS {
        let response = super::operations_mut(document)
            .map(|(_, operation)| operation)
            .find(|operation| operation.operation_id.as_deref() == Some(source))
            .and_then(|operation| operation.responses.responses.get_mut(status));
        let Some(RefOr::T(response)) = response else {
            unplaced.push(source);
            continue;
        };
        for &target in targets {
            let link = LinkBuilder::new()
                .operation_id(target)
                .parameter("id", format!("$response.body#{pointer}"))
                .build();
            response.links.insert(target.to_owned(), RefOr::T(link));
        }
    }
    unplaced
}
