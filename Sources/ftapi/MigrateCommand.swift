import API
import ArgumentParser
import Domain

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Bring the database schema up to date.")
    @OptionGroup var store: StoreOptions

    func run() throws {
        let database = try store.openStore()
        try database.migrate()
        print("schema version \(try database.schemaVersion())")
    }
}
