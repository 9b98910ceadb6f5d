/// A FineTune Lab job name (`"local_training_001"`): the caller's own `job_id`, kept as the job's `external_id`.
enum ExternalJobID {
    static let lengths = 1...200

    /// 1 to 200 characters of `[A-Za-z0-9._:-]`.
    static func isValid(_ name: String) -> Bool {
        lengths.contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                    true
                default:
                    false
                }
            }
    }
}
