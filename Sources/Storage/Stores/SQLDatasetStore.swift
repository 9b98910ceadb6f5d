import Domain

extension DatasetColumn {
    func value(of dataset: DatasetRecord) -> SQLValue {
        switch self {
        case .id: .text(dataset.id)
        case .userID: .text(dataset.userID)
        case .name: .text(dataset.name)
        case .format: .text(dataset.format)
        case .sizeBytes: .integer(dataset.sizeBytes)
        case .totalExamples: .integer(dataset.totalExamples)
        case .sha256: .text(dataset.sha256)
        case .filePath: .text(dataset.filePath)
        case .createdAt: dataset.createdAt.sql
        }
    }
}

/// Stored datasets' records.
///
/// `delete` and a job insert that names a dataset exclude each other: on PostgreSQL through the dataset's row
/// lock (`delete` takes it with `SELECT … FOR UPDATE` before counting the jobs that hold the dataset, and the job
/// insert reads the dataset `FOR KEY SHARE`), on SQLite through the database's one writer. Whichever comes first
/// wins: a delete that waited counts the new job, and a job insert that waited finds no dataset.
final class SQLDatasetStore<Database: SQLDatabase>: DatasetStore {
    private typealias Column = DatasetColumn
    private let database: Database
    private let insertRow: String
    private let selectByID: String
    private let lockByID: String
    private let selectPage: String
    /// The jobs that hold a dataset: those not terminal.
    private let countUsers: String

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        insertRow = "INSERT INTO datasets (\(sql.names(Column.self))) VALUES (\(sql.parameters(Column.self)))"
        selectByID = "SELECT \(sql.selectList(Column.self)) FROM datasets WHERE id = $1 AND user_id = $2"
        lockByID = selectByID + sql.forUpdate
        selectPage = """
            SELECT \(sql.selectList(Column.self)) FROM datasets WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
            """
        let holding = JobStatus.allCases.filter { !$0.isTerminal }.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        countUsers = "SELECT count(*) FROM training_jobs WHERE dataset_id = $1 AND status IN (\(holding))"
    }

    func insert(_ dataset: DatasetRecord) throws {
        guard database.dialect.canName(dataset.id) else { throw StoreError.failed("dataset id \(dataset.id) is not a lowercase UUID") }
        _ = try database.write { connection in
            try connection.run(insertRow, Column.allCases.map { $0.value(of: dataset) })
        }
    }

    func find(id: String, userID: String) throws -> DatasetRecord? {
        guard database.dialect.canName(id) else { return nil }
        return try database.read { connection in
            try connection.first(selectByID, [.text(id), .text(userID)], DatasetRecord.init(row:))
        }
    }

    func exists(name: String, userID: String) throws -> Bool {
        try database.read { connection in
            try connection.first("SELECT 1 FROM datasets WHERE user_id = $1 AND name = $2", [.text(userID), .text(name)]) { $0.int(0) } != nil
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (datasets: [DatasetRecord], total: Int) {
        try database.snapshot { connection in
            var datasets: [DatasetRecord] = []
            try connection.query(selectPage, [.text(userID), database.dialect.limit(limit), .integer(Int64(offset))]) {
                datasets.append(DatasetRecord(row: $0))
            }
            let total = try connection.first("SELECT count(*) FROM datasets WHERE user_id = $1", [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (datasets, total)
        }
    }

    func delete(id: String, userID: String) throws -> DatasetDeletion {
        guard database.dialect.canName(id) else { return .notFound }
        return try database.write { connection in
            guard let record = try connection.first(lockByID, [.text(id), .text(userID)], DatasetRecord.init(row:)) else { return .notFound }
            let users = try connection.first(countUsers, [.text(id)]) { Int($0.int(0)) } ?? 0
            if users > 0 { return .inUse(jobs: users) }
            try connection.run("DELETE FROM datasets WHERE id = $1", [.text(id)])
            return .deleted(record)
        }
    }

    func allFilePaths() throws -> Set<String> {
        try database.read { connection in
            var paths = Set<String>()
            try connection.query("SELECT file_path FROM datasets", []) { paths.insert($0.string(0)) }
            return paths
        }
    }
}
