import Domain

/// The schema for PostgreSQL, in the same numbered steps as SQLite's, with
/// PostgreSQL's types (`uuid`, `timestamptz`, `jsonb`, `bigint`, `boolean`)
/// and real constraints. A step is never edited once released. Every step
/// runs in the schema named by `DATABASE_SCHEMA` (the session's search path).
enum PostgreSQLMigrations {
    static let steps: [(version: Int, sql: String)] = released + SchemaSteps.steps(.postgresql)

    /// Steps 1 to 8, as released: later steps are written once for both backends (`SchemaSteps`).
    private static let released: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE api_keys (
                id uuid PRIMARY KEY,
                user_id text NOT NULL,
                name text NOT NULL,
                key_hash text NOT NULL UNIQUE,
                key_prefix text NOT NULL,
                scopes text NOT NULL,
                created_at timestamptz NOT NULL,
                last_used_at timestamptz,
                request_count bigint NOT NULL DEFAULT 0,
                revoked_at timestamptz
            );
            CREATE UNIQUE INDEX api_keys_active_name ON api_keys (user_id, name) WHERE revoked_at IS NULL;
            CREATE INDEX api_keys_user_created ON api_keys (user_id, created_at);

            CREATE TABLE training_jobs (
                id uuid PRIMARY KEY,
                user_id text NOT NULL,
                model_name text NOT NULL,
                dataset_id uuid,
                status text NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
                config jsonb NOT NULL DEFAULT '{}',
                progress double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
                current_step bigint NOT NULL DEFAULT 0,
                total_steps bigint,
                current_epoch bigint NOT NULL DEFAULT 0,
                total_epochs bigint,
                train_loss double precision,
                eval_loss double precision,
                best_eval_loss double precision,
                error_message text,
                resumed_from_job_id uuid REFERENCES training_jobs (id),
                job_token_hash text UNIQUE,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                started_at timestamptz,
                completed_at timestamptz
            );
            CREATE INDEX training_jobs_user_status ON training_jobs (user_id, status);
            CREATE INDEX training_jobs_user_created ON training_jobs (user_id, created_at DESC, id DESC);
            """
        ),
        (
            2,
            """
            CREATE TABLE training_metrics (
                job_id uuid NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                step bigint NOT NULL,
                epoch double precision,
                train_loss double precision,
                eval_loss double precision,
                learning_rate double precision,
                grad_norm double precision,
                gpu_memory_allocated_gb double precision,
                gpu_utilization_percent double precision,
                samples_per_second double precision,
                tokens_per_second double precision,
                recorded_at timestamptz,
                PRIMARY KEY (job_id, step)
            );
            """
        ),
        (
            3,
            """
            ALTER TABLE training_jobs ADD COLUMN metrics_points bigint NOT NULL DEFAULT 0;
            ALTER TABLE training_jobs ADD COLUMN samples_per_second_sum double precision NOT NULL DEFAULT 0;
            ALTER TABLE training_jobs ADD COLUMN samples_per_second_count bigint NOT NULL DEFAULT 0;
            """
        ),
        (
            4,
            """
            -- Per-user status counts kept by a trigger in the same transaction as
            -- the change, so the stats endpoint reads a handful of rows.
            CREATE TABLE job_status_counts (
                user_id text NOT NULL,
                status text NOT NULL,
                count bigint NOT NULL,
                PRIMARY KEY (user_id, status)
            );
            CREATE FUNCTION job_status_counts_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    UPDATE job_status_counts SET count = count - 1 WHERE user_id = OLD.user_id AND status = OLD.status;
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    INSERT INTO job_status_counts (user_id, status, count) VALUES (NEW.user_id, NEW.status, 1)
                        ON CONFLICT (user_id, status) DO UPDATE SET count = job_status_counts.count + 1;
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER training_jobs_count_insert AFTER INSERT OR DELETE ON training_jobs
                FOR EACH ROW EXECUTE FUNCTION job_status_counts_maintain();
            CREATE TRIGGER training_jobs_count_update AFTER UPDATE OF user_id, status ON training_jobs
                FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.status IS DISTINCT FROM NEW.status)
                EXECUTE FUNCTION job_status_counts_maintain();
            """
        ),
        (
            5,
            """
            -- Stored datasets; the row is committed only after its file is in place.
            CREATE TABLE datasets (
                id uuid PRIMARY KEY,
                user_id text NOT NULL,
                name text NOT NULL,
                format text NOT NULL CHECK (format IN ('chatml', 'sharegpt', 'alpaca', 'dpo', 'text')),
                size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
                total_examples bigint NOT NULL CHECK (total_examples >= 0),
                sha256 text NOT NULL,
                file_path text NOT NULL UNIQUE,
                created_at timestamptz NOT NULL,
                UNIQUE (user_id, name)
            );
            CREATE INDEX datasets_user_created ON datasets (user_id, created_at DESC, id DESC);
            CREATE INDEX training_jobs_dataset ON training_jobs (dataset_id) WHERE dataset_id IS NOT NULL;
            """
        ),
        (
            6,
            """
            -- Notification preferences: a row only once a user saves some.
            CREATE TABLE notification_preferences (
                user_id text PRIMARY KEY,
                email_enabled boolean NOT NULL,
                email_address text,
                alert_job_started boolean NOT NULL,
                alert_job_completed boolean NOT NULL,
                alert_job_failed boolean NOT NULL,
                alert_job_cancelled boolean NOT NULL,
                alert_gpu_oom boolean NOT NULL,
                alert_disk_warning boolean NOT NULL,
                alert_timeout_warning boolean NOT NULL,
                daily_summary_enabled boolean NOT NULL,
                daily_summary_hour integer NOT NULL CHECK (daily_summary_hour BETWEEN 0 AND 23),
                weekly_digest_enabled boolean NOT NULL,
                weekly_digest_day integer NOT NULL CHECK (weekly_digest_day BETWEEN 0 AND 6),
                quiet_hours_enabled boolean NOT NULL,
                quiet_hours_start integer NOT NULL CHECK (quiet_hours_start BETWEEN 0 AND 23),
                quiet_hours_end integer NOT NULL CHECK (quiet_hours_end BETWEEN 0 AND 23),
                timezone text NOT NULL,
                updated_at timestamptz NOT NULL
            );
            """
        ),
        (
            7,
            """
            -- The dashboard reads a user's jobs of a range from this index alone.
            CREATE INDEX training_jobs_user_dashboard
                ON training_jobs (user_id, created_at) INCLUDE (status, started_at, completed_at, current_step, metrics_points);
            -- Its recent failures: newest completion first, stopping after ten.
            CREATE INDEX training_jobs_user_failures ON training_jobs (user_id, completed_at DESC, id DESC) WHERE status = 'failed';
            """
        ),
        (
            8,
            """
            -- FineTune Lab compatibility: the caller's own job name (unique per user), the
            -- trainer's dataset path, and the token of jobs whose upsert answers it again.
            ALTER TABLE training_jobs ADD COLUMN external_id text CHECK (char_length(external_id) BETWEEN 1 AND 200);
            ALTER TABLE training_jobs ADD COLUMN dataset_path text;
            ALTER TABLE training_jobs ADD COLUMN job_token text;
            CREATE UNIQUE INDEX training_jobs_user_external ON training_jobs (user_id, external_id) WHERE external_id IS NOT NULL;
            ALTER TABLE training_metrics ADD COLUMN gpu_memory_reserved_gb double precision;
            ALTER TABLE training_metrics ADD COLUMN perplexity double precision;
            ALTER TABLE training_metrics ADD COLUMN train_perplexity double precision;
            -- A job's newest log lines, numbered from 1 without gaps (the oldest are deleted from the front).
            CREATE TABLE training_logs (
                job_id uuid NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                seq bigint NOT NULL CHECK (seq > 0),
                line text NOT NULL,
                PRIMARY KEY (job_id, seq)
            );
            CREATE TABLE training_predictions (
                id uuid PRIMARY KEY,
                job_id uuid NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                epoch bigint NOT NULL,
                step bigint NOT NULL,
                sample_index bigint NOT NULL,
                prompt text NOT NULL,
                prediction text NOT NULL,
                ground_truth text,
                exact_match double precision,
                char_error_rate double precision,
                length_ratio double precision,
                word_overlap double precision,
                prompt_tokens bigint,
                completion_tokens bigint,
                total_tokens bigint,
                latency_ms double precision,
                validation_pass boolean,
                validation_kind text,
                validation_errors text,
                created_at timestamptz NOT NULL,
                UNIQUE (job_id, epoch, step, sample_index)
            );
            CREATE INDEX training_predictions_order ON training_predictions (job_id, epoch, sample_index, step);
            """
        ),
    ]

    static var latestVersion: Int { steps.last?.version ?? 0 }
}
