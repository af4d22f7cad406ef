/// Reads a chart's `.tgz` as its bytes arrive (an upload can be stored while it is read): inflated within
/// `maxInflated` (helm's own limit), every path checked, one top directory named like the chart, and its
/// `Chart.yaml` parsed. Memory stays bounded by one inflated chunk and `Chart.yaml` itself.
public final class ChartArchiveReader {
    /// Helm refuses charts that inflate to more than this.
    public static let maxInflated = 100 << 20

    private let inflater: Inflater
    private var tar = TarScanner { path in
        let parts = path.split(separator: "/")
        return parts.count == 2 && parts[1] == "Chart.yaml"
    }

    public init(maxInflated: Int = ChartArchiveReader.maxInflated) throws {
        inflater = try Inflater(limit: maxInflated)
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        try inflater.inflate(bytes) { try tar.feed($0) }
    }

    public func feed(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    /// The chart's metadata, once every byte was fed.
    public func finish() throws -> ChartMetadata {
        guard inflater.finished else { throw ChartError("the archive ends early (truncated gzip)") }
        guard tar.isComplete else { throw ChartError("the archive ends early (truncated tar)") }
        let tops = Set(tar.entries.map { $0.path.split(separator: "/")[0] })
        guard tops.count == 1, let top = tops.first else {
            throw ChartError(
                tar.entries.isEmpty ? "the archive is empty" : "a chart archive holds one directory, not \(tops.sorted())")
        }
        guard let yaml = tar.kept["\(top)/Chart.yaml"] else { throw ChartError("the archive has no \(top)/Chart.yaml") }
        let metadata = try ChartMetadata(yaml: yaml)
        guard metadata.name == top else {
            throw ChartError("the chart is named '\(metadata.name)' but its directory in the archive is '\(top)'")
        }
        return metadata
    }

    /// Reads a whole archive held in memory (a test, or a small upload already buffered).
    public static func metadata(of bytes: [UInt8], maxInflated: Int = ChartArchiveReader.maxInflated) throws
        -> ChartMetadata
    {
        let reader = try ChartArchiveReader(maxInflated: maxInflated)
        try reader.feed(bytes)
        return try reader.finish()
    }
}
