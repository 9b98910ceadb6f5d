import Domain

extension PredictionColumn {
    func value(of record: TrainingPrediction) -> SQLValue {
        switch self {
        case .id: .text(record.id)
        case .jobID: .text(record.jobID)
        case .epoch: .integer(record.epoch)
        case .step: .integer(record.step)
        case .sampleIndex: .integer(record.sampleIndex)
        case .prompt: .text(record.prompt)
        case .prediction: .text(record.prediction)
        case .groundTruth: record.groundTruth.sql
        case .exactMatch: record.exactMatch.sql
        case .charErrorRate: record.charErrorRate.sql
        case .lengthRatio: record.lengthRatio.sql
        case .wordOverlap: record.wordOverlap.sql
        case .promptTokens: record.promptTokens.sql
        case .completionTokens: record.completionTokens.sql
        case .totalTokens: record.totalTokens.sql
        case .latencyMS: record.latencyMS.sql
        case .validationPass: record.validationPass.sql
        case .validationKind: record.validationKind.sql
        case .validationErrors: record.validationErrorsJSON.sql
        case .createdAt: record.createdAt.sql
        }
    }
}

/// Training predictions: one row per (job, epoch, step, sample); a prediction sent again replaces the stored
/// one's figures and keeps its id and time.
final class SQLTrainingPredictionStore<Database: SQLDatabase>: TrainingPredictionStore {
    private let database: Database
    private let upsertRow: String
    private let selectPage: String
    private let selectEpochPage: String
    private let selectEpochs: String
    /// The token of a trainer's job, read locked, so the token can't change before the records are stored.
    private let lockJobToken: String

    init(database: Database) {
        self.database = database
        let sql = database.dialect
        lockJobToken = "SELECT job_token_hash FROM training_jobs WHERE id = $1" + sql.forUpdate
        let replaced = PredictionColumn.allCases.filter { !$0.isKey && $0 != .id && $0 != .createdAt }
        upsertRow = """
            INSERT INTO training_predictions (\(sql.names(PredictionColumn.self))) VALUES (\(sql.parameters(PredictionColumn.self)))
            ON CONFLICT (job_id, epoch, step, sample_index) DO UPDATE SET \
            \(replaced.map { "\($0.name) = excluded.\($0.name)" }.joined(separator: ", "))
            """
        let selectRows = "SELECT \(sql.selectList(PredictionColumn.self)) FROM training_predictions WHERE job_id = $1"
        selectPage = "\(selectRows) ORDER BY epoch, sample_index, step, id LIMIT $2 OFFSET $3"
        selectEpochPage = "\(selectRows) AND epoch = $4 ORDER BY epoch, sample_index, step, id LIMIT $2 OFFSET $3"
        selectEpochs = """
            SELECT \(sql.selectList(PredictionEpochColumn.self)) FROM training_predictions WHERE job_id = $1 GROUP BY epoch ORDER BY epoch
            """
    }

    func upsert(_ predictions: [TrainingPrediction], heldWith tokenHash: String?) throws {
        guard predictions.allSatisfy({ database.dialect.canName($0.jobID) && database.dialect.canName($0.id) }) else {
            throw StoreError.missingReference("job_id")
        }
        _ = try database.write { connection in
            if let tokenHash {
                for jobID in Set(predictions.map(\.jobID)) {
                    let stored = try connection.first(lockJobToken, [.text(jobID)]) { $0.optionalString(0) }
                    guard stored == tokenHash else { throw JobReassignedError() }
                }
            }
            for record in predictions {
                try connection.run(upsertRow, PredictionColumn.allCases.map { $0.value(of: record) })
            }
        }
    }

    func list(jobID: String, epoch: Int64?, limit: Int, offset: Int) throws -> PredictionPage {
        guard database.dialect.canName(jobID) else { return PredictionPage(predictions: [], totalCount: 0, epochCount: 0) }
        return try database.snapshot { connection in
            var records: [TrainingPrediction] = []
            let values: [SQLValue] = [.text(jobID), database.dialect.limit(limit), .integer(Int64(offset))]
            if let epoch {
                try connection.query(selectEpochPage, values + [.integer(epoch)]) { records.append(TrainingPrediction(row: $0)) }
            } else {
                try connection.query(selectPage, values) { records.append(TrainingPrediction(row: $0)) }
            }
            let (total, epochs) =
                try connection.first(
                    "SELECT count(*), count(DISTINCT epoch) FROM training_predictions WHERE job_id = $1", [.text(jobID)]
                ) { (Int($0.int(0)), Int($0.int(1))) } ?? (0, 0)
            return PredictionPage(predictions: records, totalCount: total, epochCount: epochs)
        }
    }

    func epochs(jobID: String) throws -> [PredictionEpochSummary] {
        guard database.dialect.canName(jobID) else { return [] }
        return try database.read { connection in
            var summaries: [PredictionEpochSummary] = []
            try connection.query(selectEpochs, [.text(jobID)]) { row in
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
