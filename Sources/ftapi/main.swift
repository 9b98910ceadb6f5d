import ArgumentParser

let ftapiVersion = "0.1.0"

struct FTAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ftapi",
        abstract: "The fine-tuning platform's API backend: a FastCGI worker pool behind nginx.",
        version: ftapiVersion,
        subcommands: [
            ServeCommand.self, MigrateCommand.self, KeysCommand.self, TokenCommand.self, SeedBenchCommand.self, ValidateDatasetCommand.self,
        ]
    )
}

Environment.loadConfigFile()
FTAPI.main()
