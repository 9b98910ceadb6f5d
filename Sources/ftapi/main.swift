import API
import ArgumentParser
import HTTPCore
import Storage

import Essentials
#if canImport(Glibc)
import Glibc
#endif

let ftapiVersion = "0.1.0"

struct FTAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ftapi",
        abstract: "The fine-tuning platform's API backend: a FastCGI worker pool behind nginx.",
        version: ftapiVersion,
        subcommands: [ServeCommand.self, MigrateCommand.self, KeysCommand.self, TokenCommand.self, SeedBenchCommand.self, ValidateDatasetCommand.self]
    )
}

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Bring the database schema up to date.")
    @OptionGroup var store: StoreOptions

    func run() throws {
        let database = try store.openStore()
        try database.migrate()
        print("schema version \(try database.schemaVersion())")
    }
}

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

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Mint an HS256 session token with JWT_SECRET.")
    @OptionGroup var tokens: TokenOptions
    @Option(help: "The token's sub (user id).") var user: String
    @Option(help: "Lifetime in seconds.") var ttl: Double = 3600

    func run() throws {
        guard let secret = tokens.secret else { throw ValidationError("JWT_SECRET (or --jwt-secret) is required to mint a token") }
        print(SessionTokenVerifier.mintHS256(secret: Array(secret.utf8), userID: user, audience: tokens.audience, now: Clocks.wallSeconds(), ttlSeconds: ttl))
    }
}

FTAPI.main()
