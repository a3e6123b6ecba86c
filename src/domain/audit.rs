//! The words of the audit log and the change feed: which kind of entity changed, and how. The API
//! document lists every one, so that a client may rely on the list.

/// What changed: `entity_type` in the audit log and the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EntityType {
    Procurement,
    Round,
    Participation,
    Question,
    Organization,
    User,
    ApiToken,
    Allocation,
    /// A message in the outbox.
    Notification,
    /// An endpoint that takes webhook deliveries.
    Webhook,
    /// A user's secret calendar feed address.
    CalendarFeed,
}

/// How it changed: the feed's `action`, and the audit log's after the entity type
/// (`round.deadline_extended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Published,
    Cancelled,
    Opened,
    Closed,
    Reopened,
    Finalized,
    DeadlineExtended,
    Joined,
    Declined,
    Withdrawn,
    Enrolled,
    Asked,
    Answered,
    Invited,
    /// An invitation to an address that has an account the inviter may not know of: answered as
    /// if sent, and never sent.
    InvitationNotSent,
    Activated,
    Revoked,
    /// A new version of a finalized allocation.
    Corrected,
    /// A procurement whose first round was finalized: its contract is signed.
    Contracted,
    /// A failed message put back in the queue.
    Retried,
    /// An address that asked for no more reminders.
    OptedOut,
    /// A webhook endpoint's signing secret replaced.
    SecretRotated,
    /// A webhook endpoint whose deliveries failed for too long, stopped.
    Disabled,
    /// An open round's reminder sent now, by an administrator, to bodies that have not answered.
    Reminded,
}

/// Every change the service records, by kind of entity. Changes to procurements, rounds,
/// participations and questions go to the audit log and the feed; changes to organizations,
/// accounts, API tokens, calendar feeds, outbox messages and webhooks to the audit log only.
pub const RECORDED: [(EntityType, &[Action]); 11] = {
    use Action::*;
    [
        (
            EntityType::Procurement,
            &[Created, Updated, Published, Contracted, Cancelled],
        ),
        (
            EntityType::Round,
            &[
                Created,
                Updated,
                Opened,
                Closed,
                Reopened,
                Cancelled,
                Finalized,
                DeadlineExtended,
                Reminded,
            ],
        ),
        (
            EntityType::Participation,
            &[Joined, Declined, Withdrawn, Enrolled],
        ),
        (EntityType::Question, &[Asked, Answered]),
        (EntityType::Organization, &[Updated]),
        (EntityType::User, &[Invited, InvitationNotSent, Activated]),
        (EntityType::ApiToken, &[Created, Revoked]),
        (EntityType::Allocation, &[Finalized, Corrected]),
        (EntityType::Notification, &[Retried, OptedOut]),
        (
            EntityType::Webhook,
            &[Created, SecretRotated, Disabled, Revoked],
        ),
        (EntityType::CalendarFeed, &[Created, Revoked]),
    ]
};

impl EntityType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether its changes are in the change feed as well as in the audit log.
    pub fn in_feed(self) -> bool {
        matches!(
            self,
            Self::Procurement
                | Self::Round
                | Self::Participation
                | Self::Question
                | Self::Allocation
        )
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The audit log's name for `action` on `entity`: `round.opened`.
pub fn audit_action(entity: EntityType, action: Action) -> String {
    format!("{}.{}", entity.as_str(), action.as_str())
}

/// Every action the audit log records.
pub fn audit_actions() -> Vec<String> {
    RECORDED
        .iter()
        .flat_map(|&(entity, actions)| actions.iter().map(move |&a| audit_action(entity, a)))
        .collect()
}

/// Every action the change feed carries.
/// What a webhook may subscribe to: every change the feed carries, named as the audit log names
/// it (`participation.joined`).
pub fn webhook_events() -> Vec<String> {
    RECORDED
        .iter()
        .filter(|(entity, _)| entity.in_feed())
        .flat_map(|&(entity, actions)| actions.iter().map(move |&a| audit_action(entity, a)))
        .collect()
}

pub fn feed_actions() -> Vec<&'static str> {
    let mut actions: Vec<&str> = Vec::new();
    for (_, recorded) in RECORDED.iter().filter(|(entity, _)| entity.in_feed()) {
        for action in recorded.iter().map(|a| a.as_str()) {
            if !actions.contains(&action) {
                actions.push(action);
            }
        }
    }
    actions
}
