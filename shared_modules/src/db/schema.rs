// Table definitions for diesel; they mirror the migrations in `shared_modules/migrations`.

diesel::table! {
    jobs (id) {
        id -> Int8,
        source -> Text,
        customer -> Text,
        category -> Text,
        job_type -> Text,
        job_group -> Text,
        state -> Text,
        inbox_path -> Nullable<Text>,
        tmp_path -> Nullable<Text>,
        archive_path -> Nullable<Text>,
        metadata -> Jsonb,
        dedupe_key -> Nullable<Text>,
        attempts -> Int4,
        max_attempts -> Int4,
        run_after -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        locked_by -> Nullable<Text>,
        timeout_seconds -> Int4,
        error -> Nullable<Text>,
        result -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        progress -> Nullable<Jsonb>,
    }
}

diesel::table! {
    job_events (id) {
        id -> Int8,
        job_id -> Int8,
        at -> Timestamptz,
        step -> Text,
        phase -> Text,
        status -> Nullable<Text>,
        duration_ms -> Nullable<Int8>,
        message -> Nullable<Text>,
        worker -> Nullable<Text>,
        node -> Nullable<Text>,
    }
}

diesel::joinable!(job_events -> jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(jobs, job_events);
