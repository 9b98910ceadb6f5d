/// The schema's steps from version 9 on, written once for both backends in the dialect's type names (the earlier
/// steps, released, stay as each backend's migrations wrote them). A step is never edited once released.
enum SchemaSteps {
    static func steps(_ sql: SQLDialect) -> [(version: Int, sql: String)] {
        let text = sql.columnType(.text)
        let id = sql.columnType(.uuid)
        let time = sql.columnType(.timestamp)
        let integer = sql.columnType(.integer)
        let real = sql.columnType(.real)
        return [
            (
                9,
                """
                -- Training agents: the agent that holds a job, since when, how many claims the job has had, and
                -- when the holder's lease lapses unless it shows life.
                ALTER TABLE training_jobs ADD COLUMN agent_id \(text);
                ALTER TABLE training_jobs ADD COLUMN claimed_at \(time);
                ALTER TABLE training_jobs ADD COLUMN attempts \(integer) NOT NULL DEFAULT 0;
                ALTER TABLE training_jobs ADD COLUMN lease_expires_at \(time);
                -- A poll reads the user's oldest queued job from the front of this index.
                CREATE INDEX training_jobs_queue ON training_jobs (user_id, created_at, id) WHERE status = 'pending' AND agent_id IS NULL;
                -- The jobs an agent holds or held, newest claim first; those it holds now (a poll renews their
                -- leases), and those cancelled while it held them (a poll tells it), whatever the number it held.
                CREATE INDEX training_jobs_agent ON training_jobs (user_id, agent_id, claimed_at) WHERE agent_id IS NOT NULL;
                CREATE INDEX training_jobs_held ON training_jobs (user_id, agent_id) WHERE lease_expires_at IS NOT NULL;
                CREATE INDEX training_jobs_agent_cancelled ON training_jobs (user_id, agent_id, completed_at)
                    WHERE status = 'cancelled' AND agent_id IS NOT NULL;
                -- The sweep reads only the lapsed leases, whatever the number of jobs.
                CREATE INDEX training_jobs_lease ON training_jobs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
                CREATE TABLE training_agents (
                    user_id \(text) NOT NULL,
                    agent_id \(text) NOT NULL,
                    hostname \(text),
                    platform \(text),
                    version \(text),
                    registered_at \(time) NOT NULL,
                    last_poll_at \(time) NOT NULL,
                    PRIMARY KEY (user_id, agent_id)
                )\(sql.withoutRowID);
                -- Tokens a claim or a lost agent replaced: a write with one is told the job was reassigned.
                CREATE TABLE retired_job_tokens (
                    token_hash \(text) PRIMARY KEY,
                    job_id \(id) NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
                    retired_at \(time) NOT NULL
                )\(sql.withoutRowID);
                CREATE INDEX retired_job_tokens_job ON retired_job_tokens (job_id);
                -- Secrets the pool makes once for every worker and host (the dataset URLs' signing key).
                CREATE TABLE server_secrets (
                    name \(text) PRIMARY KEY,
                    value \(text) NOT NULL
                )\(sql.withoutRowID);
                ALTER TABLE training_metrics ADD COLUMN eval_perplexity \(real);
                """
            )
        ]
    }
}
