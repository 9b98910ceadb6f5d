import Domain
import JSON

/// Reads the metric points of a request body, checking every point before anything is stored:
/// `contract` takes the contract's fields, `fineTuneLab` those of FineTune Lab's points too (its
/// measures, and `loss`, another name for `train_loss`).
struct MetricPointReader {
    /// The most points one request may carry.
    static let maximumBatch = 1000

    static let contract = MetricPointReader(measures: MetricPoint.Measure.contract, otherFields: [])
    static let fineTuneLab = MetricPointReader(measures: MetricPoint.Measure.all, otherFields: ["loss"])

    private let measures: [MetricPoint.Measure]
    /// Every field a point may have.
    private let fields: Set<String>

    private init(measures: [MetricPoint.Measure], otherFields: [String]) {
        self.measures = measures
        fields = Set(measures.map(\.name) + ["step", "timestamp"] + otherFields)
    }

    /// The points of a `metrics` array of 1 to `maximumBatch` points; the first bad point is named by index and field.
    func points(_ value: JSONValue?) throws(APIError) -> [MetricPoint] {
        let maximumBatch = Self.maximumBatch
        guard case .array(let elements)? = value else {
            throw APIError.badRequest("metrics must be an array of 1 to \(maximumBatch) points")
        }
        guard (1...maximumBatch).contains(elements.count) else {
            throw APIError.badRequest("metrics must hold 1 to \(maximumBatch) points, not \(elements.count)")
        }
        var points: [MetricPoint] = []
        points.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .object(let object) = element else {
                throw APIError.badRequest("metrics[\(index)] must be an object, not \(element.typeName)")
            }
            points.append(try point(object, at: "metrics[\(index)]"))
        }
        return points
    }

    /// One point; `at` names it in messages (`metrics[3]`, or empty for a point that is the whole body).
    func point(_ object: JSONObject, at: @autoclosure () -> String) throws(APIError) -> MetricPoint {
        // The point's name is made only for a message.
        func name(_ field: String) -> String {
            let at = at()
            return at.isEmpty ? field : "\(at).\(field)"
        }
        if let unknown = object.keys.first(where: { !fields.contains($0) }) {
            throw APIError.badRequest("\(name(unknown)) is not a metrics field")
        }
        var point: MetricPoint
        switch object["step"] {
        case .int(let step)? where TrainingStep.range.contains(step):
            point = MetricPoint(step: step)
        case nil, .null?:
            throw APIError.badRequest("\(name("step")) is required")
        default:
            throw APIError.badRequest("\(name("step")) must be an integer from 0 to \(TrainingStep.maximum)")
        }
        for measure in measures {
            switch object[measure.name] {
            case nil, .null?:
                break
            case .int(let number)?:
                point[measure] = Double(number)
            case .double(let number)?:
                guard number.isFinite else { throw APIError.badRequest("\(name(measure.name)) must be a finite number, not \(number)") }
                point[measure] = number
            case let other?:
                throw APIError.badRequest("\(name(measure.name)) must be a number, not \(other.typeName)")
            }
        }
        // FineTune Lab's trainers call the training loss `loss` (the contract's points can't have it: see `fields`).
        switch object["loss"] {
        case nil, .null?:
            break
        case .int(let number)?:
            point.trainLoss = try Self.alias(Double(number), of: point.trainLoss, name: name("loss"))
        case .double(let number)?:
            guard number.isFinite else { throw APIError.badRequest("\(name("loss")) must be a finite number, not \(number)") }
            point.trainLoss = try Self.alias(number, of: point.trainLoss, name: name("loss"))
        case let other?:
            throw APIError.badRequest("\(name("loss")) must be a number, not \(other.typeName)")
        }
        switch object["timestamp"] {
        case nil, .null?:
            break
        case .string(let text)?:
            guard let time = Timestamp(iso8601: text) else { throw APIError.badRequest("\(name("timestamp")) must be an ISO 8601 time") }
            point.timestamp = time
        case let other?:
            throw APIError.badRequest("\(name("timestamp")) must be an ISO 8601 string, not \(other.typeName)")
        }
        return point
    }

    /// `loss` when `train_loss` is absent or the same; two different training losses for one point are a 400.
    private static func alias(_ loss: Double, of trainLoss: Double?, name: String) throws(APIError) -> Double {
        if let trainLoss, trainLoss != loss { throw APIError.badRequest("\(name) and train_loss differ; send one of them") }
        return loss
    }
}
