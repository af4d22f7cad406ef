import Foundation
import Yams

/// A chart's `Chart.yaml`: the fields a chart repository's `index.yaml` lists, as helm writes them.
public struct ChartMetadata: Codable, Equatable, Sendable {
    public struct Maintainer: Codable, Equatable, Sendable {
        public var name: String
        public var email: String?
        public var url: String?
    }

    public struct Dependency: Codable, Equatable, Sendable {
        public var name: String
        public var version: String?
        public var repository: String?
        public var condition: String?
        public var tags: [String]?
        public var enabled: Bool?
        public var importValues: [ImportValue]?
        public var alias: String?

        enum CodingKeys: String, CodingKey {
            case name, version, repository, condition, tags, enabled, alias
            case importValues = "import-values"
        }
    }

    /// One of a dependency's `import-values`: a name the child exports, or a child and parent path.
    public enum ImportValue: Codable, Equatable, Sendable {
        case exported(String)
        case mapping(child: String, parent: String)

        private struct Pair: Codable {
            let child: String
            let parent: String
        }

        public init(from decoder: any Decoder) throws {
            if let name = try? decoder.singleValueContainer().decode(String.self) {
                self = .exported(name)
            } else {
                let pair = try Pair(from: decoder)
                self = .mapping(child: pair.child, parent: pair.parent)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .exported(let name):
                var container = encoder.singleValueContainer()
                try container.encode(name)
            case .mapping(let child, let parent): try Pair(child: child, parent: parent).encode(to: encoder)
            }
        }
    }

    public var apiVersion: String
    public var name: String
    public var version: String
    public var appVersion: String?
    public var description: String?
    public var keywords: [String]?
    public var home: String?
    public var sources: [String]?
    public var maintainers: [Maintainer]?
    public var icon: String?
    /// Chart-level `condition` and `tags`: apiVersion v1 fields that helm still reads and writes.
    public var condition: String?
    public var tags: String?
    public var type: String?
    public var dependencies: [Dependency]?
    public var deprecated: Bool?
    public var kubeVersion: String?
    public var annotations: [String: String]?

    /// Parses and checks a `Chart.yaml`: the fields helm requires, a SemVer 2 version, a name that can be a path.
    public init(yaml bytes: [UInt8]) throws {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ChartError("Chart.yaml is not UTF-8") }
        do {
            self = try YAMLDecoder().decode(ChartMetadata.self, from: text)
        } catch let error as DecodingError {
            throw ChartError("Chart.yaml: \(Self.describe(error))")
        } catch {
            throw ChartError("Chart.yaml is not valid YAML: \(error)")
        }
        try validate()
    }

    func validate() throws {
        guard ["v1", "v2"].contains(apiVersion) else {
            throw ChartError("Chart.yaml: apiVersion must be v1 or v2, not '\(apiVersion)'")
        }
        guard Self.isValidName(name) else {
            throw ChartError("Chart.yaml: the name '\(name)' must be letters, digits, '-', '_' or '.' (not starting with '.')")
        }
        guard SemanticVersion(version) != nil else {
            throw ChartError("Chart.yaml: the version '\(version)' is not a semantic version (such as 1.2.3)")
        }
        if let type, !["application", "library"].contains(type) {
            throw ChartError("Chart.yaml: type must be application or library, not '\(type)'")
        }
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 250 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0))
            }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "the field '\(key.stringValue)' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        @unknown default: "\(error)"
        }
    }
}
