import Domain
import Essentials

extension DatasetColumn: PostgreSQLTableColumn {
    func postgresValue(of dataset: DatasetRecord) -> PostgreSQLValue {
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

/// Datasets in PostgreSQL.
///
/// `delete` and a job insert that names a dataset exclude each other through the dataset's row lock: `delete`
/// takes it with `SELECT … FOR UPDATE` before counting the jobs that hold the dataset, and the job insert reads the
/// dataset with `SELECT … FOR KEY SHARE` (or any stronger lock) in its transaction. Whichever locks first wins: a
/// delete that waited counts the new job (at READ COMMITTED its count reads a snapshot taken after the insert
/// committed), and a job insert that waited finds no dataset.
final class PostgreSQLDatasetStore: DatasetStore {
    private typealias Column = DatasetColumn
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let insertRow = "INSERT INTO datasets (\(Column.names)) VALUES (\(Column.parameters))"
    private static let selectByID = "SELECT \(Column.selectList) FROM datasets WHERE id = $1 AND user_id = $2"
    private static let lockByID = selectByID + " FOR UPDATE"
    private static let selectExists = "SELECT 1 FROM datasets WHERE user_id = $1 AND name = $2"
    private static let selectPage = """
        SELECT \(Column.selectList) FROM datasets WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
        """
    private static let countAll = "SELECT count(*) FROM datasets WHERE user_id = $1"
    private static let countUsers = "SELECT count(*) FROM training_jobs WHERE dataset_id = $1 AND status = ANY ($2::text[])"
    private static let deleteRow = "DELETE FROM datasets WHERE id = $1"
    private static let selectFilePaths = "SELECT file_path FROM datasets"
    /// The statuses of the jobs that hold a dataset (those not terminal), as an array parameter.
    private static let holdingStatuses = PostgreSQLValue.text(
        "{" + JobStatus.allCases.filter { !$0.isTerminal }.map(\.rawValue).joined(separator: ",") + "}"
    )

    func insert(_ dataset: DatasetRecord) throws {
        guard isCanonicalUUID(dataset.id) else { throw StoreError.failed("dataset id \(dataset.id) is not a lowercase UUID") }
        _ = try database.write { connection in
            try connection.run(Self.insertRow, Column.allCases.map { $0.postgresValue(of: dataset) })
        }
    }

    func find(id: String, userID: String) throws -> DatasetRecord? {
        guard isCanonicalUUID(id) else { return nil }
        return try database.read { connection in
            try connection.first(Self.selectByID, [.text(id), .text(userID)], DatasetRecord.init(row:))
        }
    }

    func exists(name: String, userID: String) throws -> Bool {
        try database.read { connection in
            try connection.first(Self.selectExists, [.text(userID), .text(name)]) { $0.int(0) } != nil
        }
    }

    func list(userID: String, limit: Int, offset: Int) throws -> (datasets: [DatasetRecord], total: Int) {
        try database.snapshot { connection in
            var datasets: [DatasetRecord] = []
            try connection.query(Self.selectPage, [.text(userID), .integer(Int64(limit)), .integer(Int64(offset))]) {
                datasets.append(DatasetRecord(row: $0))
            }
            let total = try connection.first(Self.countAll, [.text(userID)]) { Int($0.int(0)) } ?? 0
            return (datasets, total)
        }
    }

    func delete(id: String, userID: String) throws -> DatasetDeletion {
        guard isCanonicalUUID(id) else { return .notFound }
        return try database.write { connection in
            guard let record = try connection.first(Self.lockByID, [.text(id), .text(userID)], DatasetRecord.init(row:)) else { return .notFound }
            let users = try connection.first(Self.countUsers, [.text(id), Self.holdingStatuses]) { Int($0.int(0)) } ?? 0
            if users > 0 { return .inUse(jobs: users) }
            try connection.run(Self.deleteRow, [.text(id)])
            return .deleted(record)
        }
    }

    func allFilePaths() throws -> Set<String> {
        try database.read { connection in
            var paths = Set<String>()
            try connection.query(Self.selectFilePaths) { paths.insert($0.string(0)) }
            return paths
        }
    }
}
