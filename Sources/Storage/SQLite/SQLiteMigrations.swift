import Domain

/// The schema, as numbered steps. A step is never edited once released:
/// changes go into a new step.
enum SQLiteMigrations {
    static let steps: [(version: Int, sql: String)] = released + SchemaSteps.steps(.sqlite)

    /// Steps 1 to 8, as released: later steps are written once for both backends (`SchemaSteps`).
    private static let released: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                name TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                key_prefix TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_used_at INTEGER,
                request_count INTEGER NOT NULL DEFAULT 0,
                revoked_at INTEGER
            );
            CREATE UNIQUE INDEX api_keys_active_name ON api_keys (user_id, name) WHERE revoked_at IS NULL;
            CREATE INDEX api_keys_user_created ON api_keys (user_id, created_at);

            CREATE TABLE training_jobs (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                model_name TEXT NOT NULL,
                dataset_id TEXT,
                status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
                config TEXT NOT NULL DEFAULT '{}',
                progress REAL NOT NULL DEFAULT 0,
                current_step INTEGER NOT NULL DEFAULT 0,
                total_steps INTEGER,
                current_epoch INTEGER NOT NULL DEFAULT 0,
                total_epochs INTEGER,
                train_loss REAL,
                eval_loss REAL,
                best_eval_loss REAL,
                error_message TEXT,
                resumed_from_job_id TEXT REFERENCES training_jobs (id),
                job_token_hash TEXT UNIQUE,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                started_at INTEGER,
                completed_at INTEGER
            );
            CREATE INDEX training_jobs_user_status ON training_jobs (user_id, status);
            CREATE INDEX training_jobs_user_created ON training_jobs (user_id, created_at DESC, id DESC);
            """
        ),
        (
            2,
            """
            CREATE TABLE training_metrics (
                job_id TEXT NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                step INTEGER NOT NULL,
                epoch REAL,
                train_loss REAL,
                eval_loss REAL,
                learning_rate REAL,
                grad_norm REAL,
                gpu_memory_allocated_gb REAL,
                gpu_utilization_percent REAL,
                samples_per_second REAL,
                tokens_per_second REAL,
                recorded_at INTEGER,
                PRIMARY KEY (job_id, step)
            ) WITHOUT ROWID;
            """
        ),
        (
            3,
            """
            ALTER TABLE training_jobs ADD COLUMN metrics_points INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE training_jobs ADD COLUMN samples_per_second_sum REAL NOT NULL DEFAULT 0;
            ALTER TABLE training_jobs ADD COLUMN samples_per_second_count INTEGER NOT NULL DEFAULT 0;
            UPDATE training_jobs SET
                metrics_points = (SELECT count(*) FROM training_metrics m WHERE m.job_id = training_jobs.id),
                samples_per_second_sum = (SELECT coalesce(sum(samples_per_second), 0) FROM training_metrics m WHERE m.job_id = training_jobs.id),
                samples_per_second_count = (SELECT count(samples_per_second) FROM training_metrics m WHERE m.job_id = training_jobs.id)
            WHERE id IN (SELECT DISTINCT job_id FROM training_metrics);
            """
        ),
        (
            4,
            """
            -- Per-user status counts kept by triggers, so that the stats
            -- endpoint reads a handful of rows of a small table instead of
            -- the user's part of the jobs index.
            CREATE TABLE job_status_counts (
                user_id TEXT NOT NULL,
                status TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (user_id, status)
            ) WITHOUT ROWID;
            INSERT INTO job_status_counts (user_id, status, count)
                SELECT user_id, status, count(*) FROM training_jobs GROUP BY user_id, status;
            CREATE TRIGGER training_jobs_count_insert AFTER INSERT ON training_jobs BEGIN
                INSERT INTO job_status_counts (user_id, status, count) VALUES (NEW.user_id, NEW.status, 1)
                    ON CONFLICT (user_id, status) DO UPDATE SET count = count + 1;
            END;
            CREATE TRIGGER training_jobs_count_update AFTER UPDATE OF user_id, status ON training_jobs
                WHEN OLD.user_id IS NOT NEW.user_id OR OLD.status IS NOT NEW.status BEGIN
                UPDATE job_status_counts SET count = count - 1 WHERE user_id = OLD.user_id AND status = OLD.status;
                INSERT INTO job_status_counts (user_id, status, count) VALUES (NEW.user_id, NEW.status, 1)
                    ON CONFLICT (user_id, status) DO UPDATE SET count = count + 1;
            END;
            CREATE TRIGGER training_jobs_count_delete AFTER DELETE ON training_jobs BEGIN
                UPDATE job_status_counts SET count = count - 1 WHERE user_id = OLD.user_id AND status = OLD.status;
            END;
            """
        ),
        (
            5,
            """
            -- Stored datasets. The file lives under the data directory at
            -- `file_path` (relative to it); the row is committed only after
            -- the file is in place, so a row always has its file.
            CREATE TABLE datasets (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                name TEXT NOT NULL,
                format TEXT NOT NULL CHECK (format IN ('chatml', 'sharegpt', 'alpaca', 'dpo', 'text')),
                size_bytes INTEGER NOT NULL,
                total_examples INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                file_path TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                UNIQUE (user_id, name)
            );
            CREATE INDEX datasets_user_created ON datasets (user_id, created_at DESC, id DESC);
            CREATE INDEX training_jobs_dataset ON training_jobs (dataset_id) WHERE dataset_id IS NOT NULL;
            """
        ),
        (
            6,
            """
            -- Notification preferences: a row only once a user saves some;
            -- reads without a row answer the defaults.
            CREATE TABLE notification_preferences (
                user_id TEXT PRIMARY KEY,
                email_enabled INTEGER NOT NULL,
                email_address TEXT,
                alert_job_started INTEGER NOT NULL,
                alert_job_completed INTEGER NOT NULL,
                alert_job_failed INTEGER NOT NULL,
                alert_job_cancelled INTEGER NOT NULL,
                alert_gpu_oom INTEGER NOT NULL,
                alert_disk_warning INTEGER NOT NULL,
                alert_timeout_warning INTEGER NOT NULL,
                daily_summary_enabled INTEGER NOT NULL,
                daily_summary_hour INTEGER NOT NULL CHECK (daily_summary_hour BETWEEN 0 AND 23),
                weekly_digest_enabled INTEGER NOT NULL,
                weekly_digest_day INTEGER NOT NULL CHECK (weekly_digest_day BETWEEN 0 AND 6),
                quiet_hours_enabled INTEGER NOT NULL,
                quiet_hours_start INTEGER NOT NULL CHECK (quiet_hours_start BETWEEN 0 AND 23),
                quiet_hours_end INTEGER NOT NULL CHECK (quiet_hours_end BETWEEN 0 AND 23),
                timezone TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            """
        ),
        (
            7,
            """
            -- The dashboard reads a user's jobs of a range from this index
            -- alone, without a lookup of each row.
            CREATE INDEX training_jobs_user_dashboard
                ON training_jobs (user_id, created_at, status, started_at, completed_at, current_step, metrics_points);
            -- Its recent failures: newest completion first, stopping after ten.
            CREATE INDEX training_jobs_user_failures ON training_jobs (user_id, completed_at, id, created_at) WHERE status = 'failed';
            """
        ),
        (
            8,
            """
            -- FineTune Lab compatibility: the caller's own job name (unique per user), the
            -- trainer's dataset path, and the token of jobs whose upsert answers it again.
            ALTER TABLE training_jobs ADD COLUMN external_id TEXT;
            ALTER TABLE training_jobs ADD COLUMN dataset_path TEXT;
            ALTER TABLE training_jobs ADD COLUMN job_token TEXT;
            CREATE UNIQUE INDEX training_jobs_user_external ON training_jobs (user_id, external_id) WHERE external_id IS NOT NULL;
            ALTER TABLE training_metrics ADD COLUMN gpu_memory_reserved_gb REAL;
            ALTER TABLE training_metrics ADD COLUMN perplexity REAL;
            ALTER TABLE training_metrics ADD COLUMN train_perplexity REAL;
            -- A job's newest log lines, numbered from 1 without gaps (the oldest are deleted from the front).
            CREATE TABLE training_logs (
                job_id TEXT NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                line TEXT NOT NULL,
                PRIMARY KEY (job_id, seq)
            ) WITHOUT ROWID;
            CREATE TABLE training_predictions (
                id TEXT PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                epoch INTEGER NOT NULL,
                step INTEGER NOT NULL,
                sample_index INTEGER NOT NULL,
                prompt TEXT NOT NULL,
                prediction TEXT NOT NULL,
                ground_truth TEXT,
                exact_match REAL,
                char_error_rate REAL,
                length_ratio REAL,
                word_overlap REAL,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                total_tokens INTEGER,
                latency_ms REAL,
                validation_pass INTEGER,
                validation_kind TEXT,
                validation_errors TEXT,
                created_at INTEGER NOT NULL,
                UNIQUE (job_id, epoch, step, sample_index)
            );
            CREATE INDEX training_predictions_order ON training_predictions (job_id, epoch, sample_index, step);
            """
        ),
    ]

    static var latestVersion: Int { steps.last?.version ?? 0 }
}
