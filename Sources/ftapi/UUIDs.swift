import FoundationEssentials

/// A new random (v4) UUID in lowercase.
func newUUID() -> String { UUID().uuidString.lowercased() }
