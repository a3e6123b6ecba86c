// Portable schema shared by both backends: text ids, BIGINT numbers, UTC timestamps, JSON as text.

diesel::table! {
    organizations (id) {
        id -> Text,
        lg_code -> Nullable<Text>,
        name -> Text,
        romaji -> Text,
        kind -> Text,
        population -> Nullable<BigInt>,
        population_base_date -> Nullable<Date>,
        contacts -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    union_memberships (union_id, member_id) {
        union_id -> Text,
        member_id -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        invitation_token_hash -> Nullable<Text>,
        invitation_expires_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    population_figures (id) {
        id -> Text,
        organization_id -> Text,
        population -> BigInt,
        base_date -> Date,
        source -> Nullable<Text>,
        recorded_by -> Nullable<Text>,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        scope -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    procurements (id) {
        id -> Text,
        title -> Text,
        summary -> Text,
        category -> Text,
        lead_organization_id -> Text,
        mandatory -> Bool,
        small_body_friendly -> Bool,
        eligibility -> Text,
        options -> Text,
        documents -> Text,
        cost_model -> Text,
        contract_start_fy -> Integer,
        contract_end_fy -> Integer,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        version -> BigInt,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rounds (id) {
        id -> Text,
        procurement_id -> Text,
        kind -> Text,
        fiscal_year -> Nullable<Integer>,
        opens_at -> Timestamp,
        closes_at -> Timestamp,
        population_base_date -> Date,
        reminder_days -> Text,
        state -> Text,
        cancel_reason -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    participations (id) {
        id -> Text,
        round_id -> Text,
        organization_id -> Text,
        status -> Text,
        selected_options -> Text,
        declared_quantity -> Nullable<BigInt>,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        note -> Nullable<Text>,
        version -> BigInt,
        updated_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    participation_history (id) {
        id -> Text,
        participation_id -> Text,
        version -> BigInt,
        status -> Text,
        selected_options -> Text,
        declared_quantity -> Nullable<BigInt>,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        note -> Nullable<Text>,
        reason -> Nullable<Text>,
        changed_by -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    questions (id) {
        id -> Text,
        procurement_id -> Text,
        organization_id -> Text,
        asked_by -> Text,
        question -> Text,
        answer -> Nullable<Text>,
        answered_by -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_user_id -> Nullable<Text>,
        actor_organization_id -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        reason -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        txid -> BigInt,
        occurred_at -> Timestamp,
        entity_type -> Text,
        entity_id -> Text,
        action -> Text,
        procurement_id -> Nullable<Text>,
        audience -> Text,
        payload -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        response_headers -> Nullable<Text>,
    }
}

diesel::table! {
    allocations (id) {
        id -> Text,
        round_id -> Text,
        procurement_id -> Text,
        version -> Integer,
        reason -> Nullable<Text>,
        total -> BigInt,
        document -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        channel -> Text,
        event -> Text,
        recipient -> Text,
        organization_id -> Nullable<Text>,
        round_id -> Nullable<Text>,
        context -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reminders_sent (round_id, organization_id, days_before) {
        round_id -> Text,
        organization_id -> Text,
        days_before -> Integer,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    reminder_opt_outs (email) {
        email -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        failing_since -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_relay (id) {
        id -> Integer,
        txid -> BigInt,
        seq -> BigInt,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(population_figures -> organizations (organization_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(calendar_feeds -> users (user_id));
diesel::joinable!(console_sessions -> users (user_id));

diesel::joinable!(rounds -> procurements (procurement_id));
diesel::joinable!(participations -> rounds (round_id));
diesel::joinable!(questions -> procurements (procurement_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    union_memberships,
    users,
    population_figures,
    refresh_tokens,
    api_tokens,
    procurements,
    rounds,
    participations,
    participation_history,
    questions,
    audit_events,
    changes,
    idempotency_keys,
    allocations,
    outbox,
    reminders_sent,
    reminder_opt_outs,
    leases,
    calendar_feeds,
    console_sessions,
    webhook_endpoints,
    webhook_relay,
);
