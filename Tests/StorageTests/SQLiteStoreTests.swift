import Domain
import Essentials
import Foundation
import Testing

@testable import Storage

/// What only the SQLite backend has: its file, its pragmas, its migrations
/// of older files and its column lists. Behaviour every backend shares is in
/// the conformance suites.
@Suite("SQLiteStore")
struct SQLiteStoreTests {
    /// A connection of our own on the store's file, for looking under the store.
    static func connection(_ directory: TemporaryDirectory) throws -> SQLiteConnection {
        try SQLiteConnection(configuration: SQLiteConfiguration(path: directory.databasePath))
    }

    /// The stores write `$n` for both backends; SQLite reads `?n`, which binds value n wherever and however often it stands.
    @Test func parametersAreNumberedAsSQLiteReadsThemAndQuotedTextIsLeftAlone() throws {
        #expect(
            SQLiteConnection.numberedParameters("a = $1 AND b IN ($12, $1) AND c = '$2' AND \"$3\" = $")
                == "a = ?1 AND b IN (?12, ?1) AND c = '$2' AND \"$3\" = $")
        let directory = try TemporaryDirectory()
        let connection = try Self.connection(directory)
        let row = try connection.first("SELECT $2, $1, $2 || '$1'", [.integer(7), .text("x")]) { ($0.string(0), $0.int(1), $0.string(2)) }
        #expect(row?.0 == "x" && row?.1 == 7 && row?.2 == "x$1")
    }

    @Test func fileIsInWALModeAndConnectionsSetTheirPragmas() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        try store.apiKeys.insert(keyRecord(userID: "alice", name: "a"))
        // Bytes 18 and 19 of the header, the read and write versions, are 2 in WAL mode.
        let header = try #require(FileManager.default.contents(atPath: directory.databasePath))
        #expect(Array(header[18...19]) == [2, 2])
        #expect(FileManager.default.fileExists(atPath: directory.databasePath + "-wal"))

        let connection = try Self.connection(directory)
        #expect(try connection.first("PRAGMA journal_mode") { $0.string(0) } == "wal")
        #expect(try connection.first("PRAGMA foreign_keys") { $0.int(0) } == 1)
        #expect(try connection.first("PRAGMA synchronous") { $0.int(0) } == 1)
        #expect(try connection.first("PRAGMA busy_timeout") { $0.int(0) } == 5000)
        #expect(try connection.first("PRAGMA cache_size") { $0.int(0) } == -512)
        #expect(try connection.first("PRAGMA mmap_size") { $0.int(0) } == 256 << 20)

        var full = SQLiteConfiguration(path: directory.databasePath)
        full.synchronous = .full
        #expect(try SQLiteConnection(configuration: full).first("PRAGMA synchronous") { $0.int(0) } == 2)
    }

    /// A request's reads share one snapshot, which its first write ends; outside a request each read
    /// sees the latest commit.
    @Test func aRequestScopeReadsOneSnapshotUntilItWrites() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let other = directory.store()  // another process's connection, on the same file
        let alice = [JobStatus.pending: 1]
        try store.scope(nil) {
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
            try other.trainingJobs.insert([job(userID: "alice")])
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts(), "the request's snapshot")
            #expect(try store.apiKeys.list(userID: "alice", limit: 10, offset: 0).total == 0, "a snapshot method reads it too")
            try store.apiKeys.insert(keyRecord(userID: "alice", name: "a"))
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts(alice), "a new snapshot after the write")
            try other.trainingJobs.insert([job(userID: "alice", status: .running)])
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts(alice))
        }
        #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.pending: 1, .running: 1]))
        try other.trainingJobs.insert([job(userID: "alice", status: .failed)])
        #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.pending: 1, .running: 1, .failed: 1]))
    }

    /// Before a request waits on the network its snapshot is let go: the checkpoint is not held back
    /// meanwhile, and its next read sees the latest commit.
    @Test func aRequestLetsGoOfItsSnapshotBeforeItWaits() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let other = directory.store()
        let clock = RequestClock()
        try store.scope(clock) {
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts())
            try other.trainingJobs.insert([job(userID: "alice")])
            // The other connection's checkpoint can't pass the snapshot this request holds …
            let held = try Self.connection(directory).checkpoint()
            #expect(held.checkpointed < held.frames)
            clock.waiting {}
            // … and can once it is let go.
            let released = try Self.connection(directory).checkpoint()
            #expect(released.checkpointed == released.frames)
            #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.pending: 1]))
        }
    }

    /// A request queued for the worker's writer (another thread of the process holds it) has let go of its
    /// snapshot: under a steady stream of writes, requests waiting their turn while holding snapshots would keep
    /// every checkpoint short of the WAL's end, and the WAL would grow without end.
    @Test func aRequestWaitingToWriteHoldsNoSnapshot() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let other = directory.store()
        let seeded = job(userID: "alice")
        try store.trainingJobs.insert([seeded])
        let (readDone, goAhead, writerHeld, releaseWriter) = (
            DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)
        )
        let queued = Thread {
            store.scope(nil) {
                _ = try? store.trainingJobs.statusCounts(userID: "alice")
                readDone.signal()
                goAhead.wait()
                _ = try? store.trainingJobs.update(id: seeded.id, userID: "alice") { $0.progress = 0.5 }
            }
        }
        queued.start()
        readDone.wait()
        // Frames past the queued request's snapshot.
        try other.trainingJobs.insert([job(userID: "alice")])
        let writer = Thread {
            _ = try? store.trainingJobs.update(id: seeded.id, userID: "alice") { _ in
                writerHeld.signal()
                releaseWriter.wait()
            }
        }
        writer.start()
        writerHeld.wait()
        goAhead.signal()
        // Long enough for the queued request to reach the writer's mutex and wait there.
        usleep(300_000)
        let checkpoint = try Self.connection(directory).checkpoint()
        releaseWriter.signal()
        #expect(checkpoint.checkpointed == checkpoint.frames)
        for _ in 0..<100 where try store.trainingJobs.find(id: seeded.id, userID: "alice")?.progress != 0.5 { usleep(20_000) }
        #expect(try store.trainingJobs.find(id: seeded.id, userID: "alice")?.progress == 0.5)
    }

    @Test func fileInAMissingDirectoryIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        let store = SQLiteStore(configuration: SQLiteConfiguration(path: directory.path + "/gone/t.db"))
        #expect(
            performing: { try store.migrate() },
            throws: { error in
                guard case StoreError.unavailable = error else { return false }
                return true
            })
        #expect(performing: { try store.ping() }, throws: { $0 is StoreError })
    }

    @Test func fileOfSchemaVersion2MigratesWithItsData() throws {
        let directory = try TemporaryDirectory()
        do {
            let old = try Self.connection(directory)
            try old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            for step in SQLiteMigrations.steps where step.version <= 2 {
                try old.execute(step.sql)
                try old.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [.integer(Int64(step.version))])
            }
            for (index, status) in ["pending", "running", "running", "completed"].enumerated() {
                try old.run(
                    """
                    INSERT INTO training_jobs (id, user_id, model_name, status, current_step, created_at, updated_at)
                    VALUES (?, 'alice', 'm', ?, ?, ?, ?)
                    """,
                    [.text("job-\(index)"), .text(status), .integer(Int64(index * 10)), .integer(1_766_000_000_000), .integer(1_766_000_000_000)]
                )
            }
            for step in 1...4 {
                try old.run(
                    "INSERT INTO training_metrics (job_id, step, eval_loss, samples_per_second) VALUES ('job-1', ?, ?, ?)",
                    [.integer(Int64(step)), .real(1 / Double(step)), step.isMultiple(of: 2) ? .real(Double(step)) : .null]
                )
            }
        }

        let store = directory.store()
        #expect(try store.schemaVersion() == 2)
        try store.migrate()
        #expect(try store.schemaVersion() == SQLiteStore.latestSchemaVersion)
        // Version 4 counted the jobs already there; version 3 summed the metrics already there.
        #expect(try store.trainingJobs.statusCounts(userID: "alice") == JobStatusCounts([.pending: 1, .running: 2, .completed: 1]))
        let summary = try #require(try store.trainingJobs.aggregate(userID: "alice", filter: AggregateFilter(), byModel: false).first)
        #expect(summary.jobs == 4 && summary.jobsWithMetrics == 1 && summary.totalSteps == 60)
        #expect(summary.averageSamplesPerSecond == 3)
        #expect(try store.analytics.dashboard(userID: "alice", from: instant(), days: 1, failureLimit: 10).metricsPoints == 4)
        // The old jobs move on, and the tables of later versions are there.
        _ = try store.trainingJobs.update(id: "job-0", userID: "alice") { $0.status = .running }
        #expect(try store.trainingJobs.statusCounts(userID: "alice")[.running] == 3)
        try store.datasets.insert(dataset(userID: "alice"))
        _ = try store.notificationPreferences.update(userID: "alice", at: instant()) { $0.timezone = "Europe/Paris" }
    }

    @Test func fileOfANewerBuildIsRefused() throws {
        let directory = try TemporaryDirectory()
        let store = try directory.migratedStore()
        let newer = SQLiteStore.latestSchemaVersion + 1
        try Self.connection(directory).run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [.integer(Int64(newer))])
        #expect(throws: StoreError.schemaTooNew(found: newer, known: SQLiteStore.latestSchemaVersion)) { try store.migrate() }
        #expect(try store.schemaVersion() == newer)
    }

    /// Each column list names columns of its table, and its cases are the row's indexes 0, 1, 2, ….
    @Test func columnListsMatchTheSchema() throws {
        let directory = try TemporaryDirectory()
        _ = try directory.migratedStore()
        let connection = try Self.connection(directory)
        func tableColumns(_ table: String) throws -> Set<String> {
            var names = Set<String>()
            try connection.query("SELECT name FROM pragma_table_info(?)", [.text(table)]) { names.insert($0.string(0)) }
            return names
        }
        func check<Column: TableColumn>(_ column: Column.Type, _ table: String, besides others: Set<String> = []) throws {
            let names = Column.allCases.map(\.name)
            #expect(Column.allCases.map(\.rawValue) == Array(0..<Int32(names.count)), "\(Column.self)")
            #expect(Set(names).count == names.count, "\(Column.self)")
            #expect(try tableColumns(table) == Set(names).union(others), "\(Column.self)")
        }
        try check(APIKeyColumn.self, "api_keys")
        try check(JobColumn.self, "training_jobs", besides: ["metrics_points", "samples_per_second_sum", "samples_per_second_count"])
        try check(MetricColumn.self, "training_metrics", besides: ["job_id"])
        try check(DatasetColumn.self, "datasets")
        try check(NotificationPreferenceColumn.self, "notification_preferences")
        try check(LogLineColumn.self, "training_logs")
        try check(PredictionColumn.self, "training_predictions")
    }
}

/// The request deadline reaches the statements: the progress handler interrupts SQLite, a cancel stops PostgreSQL.
/// One at a time: through pgbouncer one test keeps the other's statement waiting for a server connection.
@Suite("statements past the request's deadline", .serialized)
struct StatementDeadlineTests {
    /// Runs `body` with `clock` armed `seconds` from now; disarms afterwards.
    static func withDeadline<T>(_ clock: RequestClock, in seconds: Double, _ body: () throws -> T) rethrows -> T {
        clock.arm(deadline: Clocks.monotonicSeconds() + seconds)
        defer { clock.disarm() }
        return try body()
    }

    @Test func aLongSQLiteStatementIsInterruptedAtTheDeadline() throws {
        let directory = try TemporaryDirectory()
        _ = try directory.migratedStore()
        let connection = try SQLiteStoreTests.connection(directory)
        let clock = RequestClock()
        connection.clock = clock
        let started = Clocks.monotonicSeconds()
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        #expect(
            performing: { try Self.withDeadline(clock, in: 0.2) { try connection.first(endless) { $0.int(0) } } },
            throws: { ($0 as? SQLiteError)?.isInterrupt == true })
        let elapsed = Clocks.monotonicSeconds() - started
        #expect(elapsed >= 0.19 && elapsed < 1, "interrupted after \(elapsed) s")
        // Without a deadline the connection serves on.
        #expect(try connection.first("SELECT 41 + 1") { $0.int(0) } == 42)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"] != nil))
    func aLongPostgreSQLStatementIsCancelledAtTheDeadline() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        let connection = try PostgreSQLConnection(conninfo: url, schema: "public", mode: StoreBackend.postgresPoolMode)
        let clock = RequestClock()
        connection.clock = clock
        let started = Clocks.monotonicSeconds()
        #expect(
            performing: { try Self.withDeadline(clock, in: 0.3) { try connection.run("SELECT pg_sleep(10)") } },
            throws: { ($0 as? PostgreSQLError)?.isCancelled == true })
        let elapsed = Clocks.monotonicSeconds() - started
        #expect(elapsed >= 0.29 && elapsed < 5, "cancelled after \(elapsed) s")
        #expect(try connection.first("SELECT 41 + 1") { $0.int(0) } == 42)
    }

    /// Through pgbouncer 1.18 (`FTAPI_TEST_DATABASE_POOL_MODE=transaction`, `default_pool_size` 2) a statement
    /// that waits for a server connection can't be cancelled (pgbouncer drops the cancel of a client that has
    /// none): it is given up `abandonAfterSeconds` past the deadline, and its connection is not used again.
    @Test(.enabled(if: StoreBackend.postgres != nil && StoreBackend.postgresPoolMode == .transaction))
    func aStatementQueuedInThePoolerIsGivenUpPastTheDeadline() throws {
        let url = try #require(ProcessInfo.processInfo.environment["FTAPI_TEST_DATABASE_URL"])
        // Both server connections busy for 3.5 s: less than pgbouncer's query_wait_timeout, so other tests only wait.
        let holders = try (0..<2).map { _ in try PostgreSQLConnection(conninfo: url, schema: "public", mode: .transaction) }
        let finished = DispatchGroup()
        for holder in holders {
            finished.enter()
            Thread {
                _ = try? holder.run("SELECT pg_sleep(3.5)")
                finished.leave()
            }.start()
        }
        defer { finished.wait() }
        usleep(300_000)
        let connection = try PostgreSQLConnection(conninfo: url, schema: "public", mode: .transaction)
        let clock = RequestClock()
        connection.clock = clock
        let started = Clocks.monotonicSeconds()
        #expect(
            performing: { try Self.withDeadline(clock, in: 0.3) { try connection.run("SELECT 1") } },
            throws: { ($0 as? PostgreSQLError)?.isCancelled == true })
        let elapsed = Clocks.monotonicSeconds() - started
        #expect(elapsed < 0.3 + PostgreSQLConnection.abandonAfterSeconds + 1, "given up after \(elapsed) s")
        #expect(connection.isBroken)
    }
}

extension SQLiteConnection {
    /// A passive checkpoint: the WAL's frames, and how many of them are now in the database file.
    func checkpoint() throws -> (frames: Int64, checkpointed: Int64) {
        try #require(try first("PRAGMA wal_checkpoint(PASSIVE)") { ($0.int(1), $0.int(2)) })
    }
}
