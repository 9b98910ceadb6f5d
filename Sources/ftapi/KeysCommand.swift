import API
import ArgumentParser
import Domain

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Manage API keys.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key and print it (shown this once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "Owner's user id.") var user: String
        @Option(help: "Key name, unique per user.") var name: String
        @Option(help: "Comma-separated scopes: all, training, analytics, datasets, models, notifications.") var scopes: String = "all"

        func run() throws {
            let scopeList = try scopes.split(separator: ",").map { name -> Scope in
                guard let scope = Scope(rawValue: String(name)) else { throw ValidationError("unknown scope \(name)") }
                return scope
            }
            guard !scopeList.isEmpty else { throw ValidationError("--scopes must name at least one scope") }
            let database = try store.openStore()
            try database.migrate()
            let key = APIKeyFormat.generate()
            let record = APIKeyRecord(
                id: newUUID(), userID: user, name: name, keyHash: APIKeyFormat.hash(key),
                keyPrefix: String(key.prefix(APIKeyFormat.displayPrefixLength)), scopes: scopeList, createdAt: .now()
            )
            do {
                try database.apiKeys.insert(record)
            } catch StoreError.duplicate {
                throw ValidationError("user \(user) already has a key named \(name)")
            }
            print(key)
        }
    }
}
