// The JSON parser (request bodies): never crashes on any bytes; what it
// accepts serializes to JSON it accepts again as the same value; the
// non-finite variant accepts everything the strict one does, as the same value.
import FuzzSupport
import JSON

fuzz { bytes in
    let strict = try? JSONValue.parse(bytes)
    let lenient = try? JSONValue.parseAllowingNonFiniteNumbers(bytes)
    guard let value = strict else { return }
    require(lenient == value, "parseAllowingNonFiniteNumbers disagrees with parse")
    let text = value.serialized()
    let again: JSONValue
    do {
        again = try JSONValue.parse(text)
    } catch {
        require(false, "serialized value does not parse again: \(error): \(String(decoding: text, as: UTF8.self))")
        return
    }
    require(again == value, "round trip changed the value: \(String(decoding: text, as: UTF8.self))")
    require(again.serialized() == text, "serializing twice gives other text")
}
