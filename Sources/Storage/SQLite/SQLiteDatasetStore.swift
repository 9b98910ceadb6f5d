final class SQLiteDatasetStore: DatasetStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let columns = "id, user_id, name, format, size_bytes, total_examples, sha256, file_path, created_at"

    private static func record(_ row: SQLiteRow) -> DatasetRecord {
        DatasetRecord(
            id: row.string(0), userID: row.string(1), name: row.string(2), format: row.string(3), sizeBytes: row.int(4),
            totalExamples: row.int(5), sha256: row.string(6), filePath: row.string(7), createdAt: row.timestamp(8)
        )
    }

    func insert(_ dataset: DatasetRecord) throws {
        _ = try database.write { connection in
            try connection.run(
                "INSERT INTO datasets (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(dataset.id), .text(dataset.userID), .text(dataset.name), .text(dataset.format), .integer(dataset.sizeBytes),
                    .integer(dataset.totalExamples), .text(dataset.sha256), .text(dataset.filePath),
                    .integer(dataset.createdAt.millisecondsSinceEpoch),
                ]
            )
        }
    }

    func find(id: String, userID: String) throws -> DatasetRecord? {
        try database.read { connection in
            try connection.first("SELECT \(Self.columns) FROM datasets WHERE id = ? AND user_id = ?", [.text(id), .text(userID)], Self.record)
        }
    }

    func exists(name: String, userID: String) throws -> Bool {
        try database.read { connection in
            try connection.first("SELECT 1 FROM datasets WHERE user_id = ? AND name = ?", [.text(userID), .text(name)]) { $0.int(0) } != nil
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (datasets: [DatasetRecord], total: Int) {
        try database.read { connection in
            var datasets: [DatasetRecord] = []
            try connection.query(
                "SELECT \(Self.columns) FROM datasets WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [.text(userID), .integer(Int64(limit)), .integer(Int64(offset))]
            ) { datasets.append(Self.record($0)) }
            let total = try connection.first("SELECT count(*) FROM datasets WHERE user_id = ?", [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (datasets, total)
        }
    }

    func delete(id: String, userID: String) throws -> DatasetDeletion {
        try database.write { connection in
            guard
                let record = try connection.first(
                    "SELECT \(Self.columns) FROM datasets WHERE id = ? AND user_id = ?", [.text(id), .text(userID)], Self.record)
            else { return .notFound }
            let users =
                try connection.first(
                    "SELECT count(*) FROM training_jobs WHERE dataset_id = ? AND status IN ('pending', 'running', 'paused')", [.text(id)]
                ) { Int($0.int(0)) } ?? 0
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
