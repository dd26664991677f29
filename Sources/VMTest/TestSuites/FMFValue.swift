import Foundation
import Yams

/// A value of fmf metadata: YAML's scalars, lists and mappings, with each mapping entry
/// remembering the file and line that set it, so a wrong value can be named where it is.
public indirect enum FMFValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([FMFValue])
    case map(FMFMap)

    /// The value as the filter and `environment` see it: YAML's own spelling of scalars.
    var text: String? {
        switch self {
        case .null: nil
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): value
        case .list, .map: nil
        }
    }

    /// A string, or a list of strings (fmf lets a single value stand for a list of one).
    var strings: [String]? {
        switch self {
        case .list(let items): items.compactMap(\.text).count == items.count ? items.compactMap(\.text) : nil
        case .null: []
        default: text.map { [$0] }
        }
    }

    /// Builds a value from a composed YAML node with Yams' own tag resolution, so `yes`,
    /// `1.5` and `~` mean what they mean to YAML.
    static func from(_ node: Node, file: String) throws(TestMetadataError) -> FMFValue {
        switch node {
        case .scalar:
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return node.bool.map(FMFValue.bool) ?? .string(node.string ?? "")
            case Tag.Name.int.rawValue: return node.int.map(FMFValue.int) ?? .string(node.string ?? "")
            case Tag.Name.float.rawValue: return node.float.map(FMFValue.double) ?? .string(node.string ?? "")
            default: return .string(node.string ?? "")
            }
        case .sequence(let sequence):
            var items: [FMFValue] = []
            for item in sequence { items.append(try from(item, file: file)) }
            return .list(items)
        case .mapping(let mapping):
            var map = FMFMap()
            for (key, value) in mapping {
                guard let name = key.string, key.tag.description != Tag.Name.null.rawValue else {
                    throw TestMetadataError(file: file, line: key.mark?.line, message: "a key must be a string")
                }
                map.entries.append(FMFMap.Entry(key: name, value: try from(value, file: file), file: file, line: key.mark?.line))
            }
            return .map(map)
        case .alias:
            throw TestMetadataError(file: file, line: node.mark?.line, message: "YAML aliases are not read in fmf metadata")
        }
    }
}

/// An fmf mapping: ordered, as written, because inheritance applies keys in order.
public struct FMFMap: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: FMFValue
        public var file: String
        public var line: Int?
    }

    public var entries: [Entry] = []

    public subscript(_ key: String) -> FMFValue? { entry(key)?.value }

    public func entry(_ key: String) -> Entry? { entries.last { $0.key == key } }

    mutating func set(_ entry: Entry) {
        if let index = entries.firstIndex(where: { $0.key == entry.key }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
    }

    mutating func remove(_ key: String) { entries.removeAll { $0.key == key } }
}
