// The dataset validator (uploads and `validate`): never crashes; the report
// does not depend on how the bytes were cut into feeds; its counts add up.
//
// Input: one byte of options (format, layout, chunking), then the file.
import DatasetValidation
import FuzzSupport

fuzz { input in
    guard let options = input.first else { return }
    let file = Array(input.dropFirst())
    let formats: [DatasetFormat?] = [nil] + DatasetFormat.allCases
    let format = formats[Int(options & 0x07) % formats.count]
    let layouts: [DatasetValidator.Layout?] = [.jsonLines, nil, .jsonArray, .jsonLines]
    let layout = layouts[Int(options >> 3 & 0x03)]

    var whole = DatasetValidator(format: format, layout: layout)
    whole.feed(file)
    let report = whole.finish()

    var pieces = DatasetValidator(format: format, layout: layout)
    for range in chunkRanges(count: file.count, seed: UInt64(options) &+ UInt64(file.count), maxChunk: 1 + Int(options >> 5) * 9) {
        pieces.feed(file[range])
    }
    require(pieces.finish() == report, "the report depends on the feeds: \(report)")
    require(whole.byteCount == file.count, "byteCount \(whole.byteCount) for \(file.count) bytes")

    if let format { require(report.format == format, "asked for \(format), reported \(report.format)") }
    require(report.validExamples >= 0 && report.validExamples <= report.totalExamples, "valid \(report.validExamples) of \(report.totalExamples)")
    let accounted = report.validExamples + report.errorCount
    switch whole.layout {
    case .jsonLines?:
        // Every example is valid or an error; at most one example per line.
        require(accounted == report.totalExamples, "valid + errors = \(accounted), examples \(report.totalExamples)")
        let lines = file.count { $0 == 0x0A } + 1
        require(report.totalExamples <= lines, "\(report.totalExamples) examples in \(lines) lines")
    case .jsonArray?:
        // The array itself may add one error (not an array, not closed, data after it).
        require(
            accounted == report.totalExamples || accounted == report.totalExamples + 1,
            "valid + errors = \(accounted), examples \(report.totalExamples)")
    case nil:
        require(false, "no layout after finish")
    }
    require(
        report.errors.count == min(report.errorCount, DatasetValidator.maximumReportedErrors),
        "\(report.errors.count) errors listed of \(report.errorCount)")
    let numbers = report.errors.map(\.line)
    require(numbers.allSatisfy { $0 >= 1 } && zip(numbers, numbers.dropFirst()).allSatisfy { $0 <= $1 }, "error positions \(numbers)")
    require(report.validExamples > 0 || (report.averageInputCharacters == 0 && report.estimatedTokens == 0), "averages without valid examples")
    require(report.isValid == (report.totalExamples > 0 && report.errorCount == 0), "isValid")
}
