import Domain

extension PredictionColumn: SQLiteColumn {
    var sql: String { name }

    func sqliteValue(of record: TrainingPrediction) -> SQLiteValue {
        switch self {
        case .id: .text(record.id)
        case .jobID: .text(record.jobID)
        case .epoch: .integer(record.epoch)
        case .step: .integer(record.step)
        case .sampleIndex: .integer(record.sampleIndex)
        case .prompt: .text(record.prompt)
        case .prediction: .text(record.prediction)
        case .groundTruth: record.groundTruth.sqlite
        case .exactMatch: record.exactMatch.sqlite
        case .charErrorRate: record.charErrorRate.sqlite
        case .lengthRatio: record.lengthRatio.sqlite
        case .wordOverlap: record.wordOverlap.sqlite
        case .promptTokens: record.promptTokens.sqlite
        case .completionTokens: record.completionTokens.sqlite
        case .totalTokens: record.totalTokens.sqlite
        case .latencyMS: record.latencyMS.sqlite
        case .validationPass: record.validationPass.map { .integer($0 ? 1 : 0) } ?? .null
        case .validationKind: record.validationKind.sqlite
        case .validationErrors: record.validationErrorsJSON.sqlite
        case .createdAt: .integer(record.createdAt.millisecondsSinceEpoch)
        }
    }
}

extension PredictionEpochColumn: SQLiteColumn {
    var sql: String { expression }
}

/// Training predictions in SQLite.
final class SQLiteTrainingPredictionStore: TrainingPredictionStore {
    private let database: SQLiteDatabase

    init(database: SQLiteDatabase) { self.database = database }

    private static let upsertRow = """
        INSERT INTO training_predictions (\(PredictionColumn.list)) VALUES (\(PredictionColumn.placeholders))
        ON CONFLICT (job_id, epoch, step, sample_index) DO UPDATE SET \
        \(PredictionColumn.allCases.filter { !$0.isKey && $0 != .id && $0 != .createdAt }.map { "\($0.sql) = excluded.\($0.sql)" }
            .joined(separator: ", "))
        """
    private static let selectRows = "SELECT \(PredictionColumn.list) FROM training_predictions WHERE job_id = ?"
    private static let order = "ORDER BY epoch, sample_index, step, id LIMIT ? OFFSET ?"
    private static let selectPage = "\(selectRows) \(order)"
    private static let selectEpochPage = "\(selectRows) AND epoch = ? \(order)"
    private static let selectTotals = "SELECT count(*), count(DISTINCT epoch) FROM training_predictions WHERE job_id = ?"
    private static let selectEpochs = """
        SELECT \(PredictionEpochColumn.list) FROM training_predictions WHERE job_id = ? GROUP BY epoch ORDER BY epoch
        """

    func upsert(_ predictions: [TrainingPrediction]) throws {
        _ = try database.write { connection in
            for record in predictions {
                try connection.run(Self.upsertRow, PredictionColumn.allCases.map { $0.sqliteValue(of: record) })
            }
        }
    }

    func list(jobID: String, epoch: Int64?, limit: Int, offset: Int) throws -> PredictionPage {
        try database.snapshot { connection in
            var records: [TrainingPrediction] = []
            let page: [SQLiteValue] = [.integer(Int64(limit)), .integer(Int64(offset))]
            if let epoch {
                try connection.query(Self.selectEpochPage, [.text(jobID), .integer(epoch)] + page) { records.append(TrainingPrediction(row: $0)) }
            } else {
                try connection.query(Self.selectPage, [.text(jobID)] + page) { records.append(TrainingPrediction(row: $0)) }
            }
            let (total, epochs) = try connection.first(Self.selectTotals, [.text(jobID)]) { (Int($0.int(0)), Int($0.int(1))) } ?? (0, 0)
            return PredictionPage(predictions: records, totalCount: total, epochCount: epochs)
        }
    }

    func epochs(jobID: String) throws -> [PredictionEpochSummary] {
        try database.read { connection in
            var summaries: [PredictionEpochSummary] = []
            try connection.query(Self.selectEpochs, [.text(jobID)]) { row in
                summaries.append(
                    PredictionEpochSummary(
                        epoch: row.int(PredictionEpochColumn.epoch), latestStep: row.int(PredictionEpochColumn.latestStep),
                        count: Int(row.int(PredictionEpochColumn.count)), averageExactMatch: row.optionalDouble(PredictionEpochColumn.avgExactMatch),
                        averageCharErrorRate: row.optionalDouble(PredictionEpochColumn.avgCharErrorRate),
                        averageLengthRatio: row.optionalDouble(PredictionEpochColumn.avgLengthRatio),
                        averageWordOverlap: row.optionalDouble(PredictionEpochColumn.avgWordOverlap),
                        minimumCharErrorRate: row.optionalDouble(PredictionEpochColumn.minCharErrorRate),
                        maximumCharErrorRate: row.optionalDouble(PredictionEpochColumn.maxCharErrorRate),
                        validationPassRate: row.optionalDouble(PredictionEpochColumn.validationPassRate)
                    ))
            }
            return summaries
        }
    }
}
