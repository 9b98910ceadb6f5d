/// What the records at the head of a connection's input say about the params of the request they start, read
/// (peeked) before libfcgi reads them. libfcgi allocates each params pair by the name and value lengths the pair
/// declares and aborts the process when that allocation fails (the remainder of CVE-2025-23016 that Debian's patch
/// leaves: two lengths of 0x7ffffffe), so a pair longer than the params limit must never reach it.
enum ParamsScan: Equatable {
    /// libfcgi may read on: the params ended (an empty PARAMS record) with every pair within the limit, or the
    /// input went on to records that are not params (libfcgi answers those as it does).
    case safe
    /// The params go on past the input seen: at least this many bytes of input are needed to see further.
    case needs(Int)
    /// A pair, or the params in all, is longer than the scan's limit (`limit(maxParamsBytes:)`).
    case refused(String)

    private static let headerBytes = 8
    private static let beginRequest: UInt8 = 1
    private static let params: UInt8 = 4
    /// Management records (request id 0) that libfcgi answers between requests.
    private static let getValues: UInt8 = 9

    /// The most params bytes looked at: beyond it a request is refused, since the input that holds them must fit in
    /// the socket's buffer to be seen before libfcgi reads it (nginx's own header buffers stop far below).
    static func limit(maxParamsBytes: Int) -> Int { 2 * maxParamsBytes + 1024 }

    /// Scans `input`, the head of a connection's unread input.
    static func scan(_ input: UnsafeRawBufferPointer, maxParamsBytes: Int) -> ParamsScan {
        let limit = limit(maxParamsBytes: maxParamsBytes)
        // A pair or the params in all between the params limit and this are read and answered 431, as before.
        var pairs = PairLengths(maxPairBytes: limit)
        var offset = 0
        var paramsBytes = 0
        while true {
            guard input.count >= offset + headerBytes else { return .needs(offset + headerBytes) }
            let type = input[offset + 1]
            let contentLength = Int(input[offset + 4]) << 8 | Int(input[offset + 5])
            let recordEnd = offset + headerBytes + contentLength + Int(input[offset + 6])
            switch type {
            case params where contentLength == 0:
                return .safe
            case params:
                paramsBytes += contentLength
                guard paramsBytes <= limit else { return .refused("the params are longer than \(limit) bytes") }
                let contentEnd = offset + headerBytes + contentLength
                guard input.count >= contentEnd else { return .needs(contentEnd) }
                if let refusal = pairs.feed(UnsafeRawBufferPointer(rebasing: input[(offset + headerBytes)..<contentEnd])) {
                    return .refused(refusal)
                }
            case beginRequest, getValues:
                break
            default:
                return .safe
            }
            offset = recordEnd
        }
    }
}

/// Follows the name and value lengths of the params pairs through the params' bytes, however records split them.
/// A length whole in one piece is read at once; one split across records is gathered byte by byte.
private struct PairLengths {
    let maxPairBytes: Int
    /// A length being gathered across records: its bytes so far, and how many it has (4 in all).
    private var partial = 0
    private var partialBytes = 0
    private var nameLength: Int?
    /// Bytes of the current pair's name and value still to skip.
    private var skipping = 0

    init(maxPairBytes: Int) {
        self.maxPairBytes = maxPairBytes
    }

    /// Takes the next bytes of the params; the refusal when a pair declares more than the limit.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> String? {
        var index = 0
        let count = bytes.count
        while index < count {
            if skipping > 0 {
                let skipped = min(skipping, count - index)
                skipping -= skipped
                index += skipped
                continue
            }
            let length: Int
            if partialBytes > 0 {
                partial = partial << 8 | Int(bytes[index])
                partialBytes += 1
                index += 1
                guard partialBytes == 4 else { continue }
                length = partial & 0x7fff_ffff
                partialBytes = 0
            } else if bytes[index] & 0x80 == 0 {
                length = Int(bytes[index])
                index += 1
            } else if count - index >= 4 {
                length = Int(bytes[index] & 0x7f) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
                index += 4
            } else {
                partial = Int(bytes[index])
                partialBytes = 1
                index += 1
                continue
            }
            if let refusal = take(length) { return refusal }
        }
        return nil
    }

    /// Takes a pair's name length, then its value length; the refusal when they declare more than the limit.
    private mutating func take(_ length: Int) -> String? {
        guard let name = nameLength else {
            guard length <= maxPairBytes else {
                return "a params pair declares a name of \(length) bytes, over the \(maxPairBytes)-byte limit"
            }
            nameLength = length
            return nil
        }
        guard name + length <= maxPairBytes else {
            return "a params pair declares a name of \(name) and a value of \(length) bytes, over the \(maxPairBytes)-byte limit"
        }
        nameLength = nil
        skipping = name + length
        return nil
    }
}
