import Foundation
import Testing

/// docs/configuration.md is the operator's list of `ftapi serve`'s settings: a flag added to the command without a
/// row there, or a row left behind by a flag that went, fails here.
@Suite struct ConfigurationDocTests {
    @Test func everyFlagOfServeHasItsRowAndEveryRowItsFlag() throws {
        let help = try TestCluster.run(["serve", "--help"])
        // The argument parser's own flags are no settings.
        let offered = Self.longOptions(in: help).subtracting(["--help", "--version"])
        let page = try String(contentsOf: TestCluster.repository.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let documented = try Self.flagColumn(of: page)
        #expect(offered.count > 40, "ftapi serve --help listed only \(offered.sorted())")
        #expect(offered.subtracting(documented).sorted() == [], "flags of ftapi serve without a row in docs/configuration.md")
        #expect(documented.subtracting(offered).sorted() == [], "rows of docs/configuration.md naming no flag of ftapi serve")
    }

    /// Every `--long-option` that starts an option's line of `--help`'s OPTIONS.
    static func longOptions(in help: String) -> Set<String> {
        var options = Set<String>()
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--"), line.hasPrefix("  ") else { continue }
            options.insert(String(trimmed.prefix { $0 != " " && $0 != "," }))
        }
        return options
    }

    /// The backticked flags of the `flag` column of the page's first `| variable | flag |` table.
    static func flagColumn(of page: String) throws -> Set<String> {
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| variable | flag |") }) else {
            throw ConfigurationDocError.noSettingsTable
        }
        var flags = Set<String>()
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count > 2 else { continue }
            let cell = cells[2].trimmingCharacters(in: .whitespaces)
            if cell.hasPrefix("`--") { flags.insert(String(cell.dropFirst().prefix { $0 != "`" })) }
        }
        return flags
    }
}

enum ConfigurationDocError: Error {
    case noSettingsTable
}
