import Domain

extension DatasetColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of dataset: DatasetRecord) -> SQLiteValue {
        switch self {
        case .id: .text(dataset.id)
        case .userID: .text(dataset.userID)
        case .name: .text(dataset.name)
        case .format: .text(dataset.format)
        case .sizeBytes: .integer(dataset.sizeBytes)
        case .totalExamples: .integer(dataset.totalExamples)
        case .sha256: .text(dataset.sha256)
        case .filePath: .text(dataset.filePath)
        case .createdAt: .integer(dataset.createdAt.millisecondsSinceEpoch)
        }
    }
}

final class SQLiteDatasetStore: DatasetStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let insertRow = "INSERT INTO datasets (\(DatasetColumn.list)) VALUES (\(DatasetColumn.placeholders))"
    private static let selectByID = "SELECT \(DatasetColumn.list) FROM datasets WHERE id = ? AND user_id = ?"
    private static let selectPage = """
        SELECT \(DatasetColumn.list) FROM datasets WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
        """
    /// The jobs that hold a dataset: those not terminal.
    private static let countUsers = """
        SELECT count(*) FROM training_jobs WHERE dataset_id = ? AND status IN \
        (\(JobStatus.allCases.filter { !$0.isTerminal }.map { "'\($0.rawValue)'" }.joined(separator: ", ")))
        """

    func insert(_ dataset: DatasetRecord) throws {
        _ = try database.write { connection in
            try connection.run(Self.insertRow, DatasetColumn.allCases.map { $0.sqliteValue(of: dataset) })
        }
    }

    func find(id: String, userID: String) throws -> DatasetRecord? {
        try database.read { connection in
            try connection.first(Self.selectByID, [.text(id), .text(userID)], DatasetRecord.init(row:))
        }
    }

    func exists(name: String, userID: String) throws -> Bool {
        try database.read { connection in
            try connection.first("SELECT 1 FROM datasets WHERE user_id = ? AND name = ?", [.text(userID), .text(name)]) { $0.int(0) } != nil
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (datasets: [DatasetRecord], total: Int) {
        try database.snapshot { connection in
            var datasets: [DatasetRecord] = []
            try connection.query(Self.selectPage, [.text(userID), .integer(Int64(limit)), .integer(Int64(offset))]) {
                datasets.append(DatasetRecord(row: $0))
            }
            let total = try connection.first("SELECT count(*) FROM datasets WHERE user_id = ?", [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (datasets, total)
        }
    }

    func delete(id: String, userID: String) throws -> DatasetDeletion {
        try database.write { connection in
            guard let record = try connection.first(Self.selectByID, [.text(id), .text(userID)], DatasetRecord.init(row:)) else { return .notFound }
            let users = try connection.first(Self.countUsers, [.text(id)]) { Int($0.int(0)) } ?? 0
            if users > 0 { return .inUse(jobs: users) }
            try connection.run("DELETE FROM datasets WHERE id = ?", [.text(id)])
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
