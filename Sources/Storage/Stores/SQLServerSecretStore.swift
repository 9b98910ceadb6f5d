import Domain

/// `server_secrets`: one row per secret, written once.
final class SQLServerSecretStore<Database: SQLDatabase>: ServerSecretStore {
    private let database: Database

    private static var select: String { "SELECT value FROM server_secrets WHERE name = $1" }
    private static var insert: String { "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING" }

    init(database: Database) {
        self.database = database
    }

    func secret(named name: String, orMake make: () -> String) throws -> String {
        if let stored = try database.read({ connection in try connection.first(Self.select, [.text(name)]) { $0.string(0) } }) {
            return stored
        }
        return try database.write { connection in
            _ = try connection.run(Self.insert, [.text(name), .text(make())])
            return try connection.first(Self.select, [.text(name)]) { $0.string(0) } ?? ""
        }
    }
}
