import Domain
import Essentials

extension PredictionColumn: PostgreSQLTableColumn {
    func postgresValue(of record: TrainingPrediction) -> PostgreSQLValue {
        switch self {
        case .id: .text(record.id)
        case .jobID: .text(record.jobID)
        case .epoch: .integer(record.epoch)
        case .step: .integer(record.step)
        case .sampleIndex: .integer(record.sampleIndex)
        case .prompt: .text(record.prompt)
        case .prediction: .text(record.prediction)
        case .groundTruth: record.groundTruth.postgres
        case .exactMatch: record.exactMatch.postgres
        case .charErrorRate: record.charErrorRate.postgres
        case .lengthRatio: record.lengthRatio.postgres
        case .wordOverlap: record.wordOverlap.postgres
        case .promptTokens: record.promptTokens.postgres
        case .completionTokens: record.completionTokens.postgres
        case .totalTokens: record.totalTokens.postgres
        case .latencyMS: record.latencyMS.postgres
        case .validationPass: record.validationPass.map(PostgreSQLValue.bool) ?? .null
        case .validationKind: record.validationKind.postgres
        case .validationErrors: record.validationErrorsJSON.postgres
        case .createdAt: .integer(record.createdAt.millisecondsSinceEpoch)
        }
    }
}

extension PredictionEpochColumn: PostgreSQLColumn {
    var selected: String {
        // avg over bigint and numeric comes back as numeric: read as float8 like SQLite's REAL.
        switch self {
        case .epoch, .latestStep, .count: expression
        default: "(\(expression))::float8"
        }
    }
}

/// Training predictions in PostgreSQL, behaving as `SQLiteTrainingPredictionStore` does.
final class PostgreSQLTrainingPredictionStore: TrainingPredictionStore {
    private let database: PostgreSQLDatabase

    init(database: PostgreSQLDatabase) { self.database = database }

    private static let upsertRow = """
        INSERT INTO training_predictions (\(PredictionColumn.names)) VALUES (\(PredictionColumn.parameters))
        ON CONFLICT (job_id, epoch, step, sample_index) DO UPDATE SET \
        \(PredictionColumn.allCases.filter { !$0.isKey && $0 != .id && $0 != .createdAt }.map { "\($0.name) = excluded.\($0.name)" }
            .joined(separator: ", "))
        """
    private static let selectRows = "SELECT \(PredictionColumn.selectList) FROM training_predictions WHERE job_id = $1"
    private static let selectPage = "\(selectRows) ORDER BY epoch, sample_index, step, id LIMIT $2 OFFSET $3"
    private static let selectEpochPage = "\(selectRows) AND epoch = $4 ORDER BY epoch, sample_index, step, id LIMIT $2 OFFSET $3"
    private static let selectTotals = "SELECT count(*), count(DISTINCT epoch) FROM training_predictions WHERE job_id = $1"
    private static let selectEpochs = """
        SELECT \(PredictionEpochColumn.selectList) FROM training_predictions WHERE job_id = $1 GROUP BY epoch ORDER BY epoch
        """

    func upsert(_ predictions: [TrainingPrediction]) throws {
        guard predictions.allSatisfy({ isCanonicalUUID($0.jobID) && isCanonicalUUID($0.id) }) else {
            throw StoreError.missingReference("job_id")
        }
        _ = try database.write { connection in
            for record in predictions {
                do {
                    try connection.run(Self.upsertRow, PredictionColumn.allCases.map { $0.postgresValue(of: record) })
                } catch let error as PostgreSQLError where error.sqlState == "23503" {
                    throw StoreError.missingReference("job_id")
                }
            }
        }
    }

    func list(jobID: String, epoch: Int64?, limit: Int, offset: Int) throws -> PredictionPage {
        guard isCanonicalUUID(jobID) else { return PredictionPage(predictions: [], totalCount: 0, epochCount: 0) }
        return try database.snapshot { connection in
            var records: [TrainingPrediction] = []
            let values: [PostgreSQLValue] = [.text(jobID), .integer(Int64(limit)), .integer(Int64(offset))]
            if let epoch {
                try connection.query(Self.selectEpochPage, values + [.integer(epoch)]) { records.append(TrainingPrediction(row: $0)) }
            } else {
                try connection.query(Self.selectPage, values) { records.append(TrainingPrediction(row: $0)) }
            }
            let (total, epochs) = try connection.first(Self.selectTotals, [.text(jobID)]) { (Int($0.int(0)), Int($0.int(1))) } ?? (0, 0)
            return PredictionPage(predictions: records, totalCount: total, epochCount: epochs)
        }
    }

    func epochs(jobID: String) throws -> [PredictionEpochSummary] {
        guard isCanonicalUUID(jobID) else { return [] }
        return try database.read { connection in
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
