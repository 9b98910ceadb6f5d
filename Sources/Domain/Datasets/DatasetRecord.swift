/// A stored dataset's record.
public struct DatasetRecord: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var name: String
    /// One of chatml, sharegpt, alpaca, dpo, text.
    public var format: String
    public var sizeBytes: Int64
    public var totalExamples: Int64
    /// Lowercase hex SHA-256 of the stored bytes.
    public var sha256: String
    /// The file, relative to the data directory.
    public var filePath: String
    public var createdAt: Timestamp

    public init(
        id: String, userID: String, name: String, format: String, sizeBytes: Int64, totalExamples: Int64, sha256: String,
        filePath: String, createdAt: Timestamp
    ) {
        self.id = id
        self.userID = userID
        self.name = name
        self.format = format
        self.sizeBytes = sizeBytes
        self.totalExamples = totalExamples
        self.sha256 = sha256
        self.filePath = filePath
        self.createdAt = createdAt
    }
}
