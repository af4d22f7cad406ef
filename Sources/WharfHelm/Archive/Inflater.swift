import CZlib

/// A chart archive that cannot be read: corrupt, too large, or with a path that leaves the chart. The message says
/// which, for the 400 the uploader gets.
public struct ChartError: Error, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// Inflates a gzip stream piece by piece, never holding more than one output chunk, and refuses to produce more
/// than `limit` bytes in all: a small archive that inflates to gigabytes (a zip bomb) stops there.
final class Inflater {
    /// On the heap: zlib keeps a pointer back to it and refuses a stream that moved.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let limit: Int
    private(set) var produced = 0
    private(set) var finished = false

    init(limit: Int) throws {
        self.limit = limit
        stream.initialize(to: z_stream())
        // 15 + 16: a gzip header and trailer (with its CRC and length check), not a raw zlib stream.
        let status = inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw ChartError("cannot start inflating (zlib \(status))") }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Feeds `input` and hands each chunk of output to `body`. Bytes after the gzip stream's end are refused.
    func inflate(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void)
        throws
    {
        guard !input.isEmpty else { return }
        guard !finished else { throw ChartError("the archive has bytes after its gzip stream") }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.pointee.avail_in = uInt(input.count)
        while stream.pointee.avail_in > 0 && !finished {
            let (status, count) = chunk.withUnsafeMutableBytes { out in
                stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.pointee.avail_out = uInt(out.count)
                let status = CZlib.inflate(stream, Z_NO_FLUSH)
                return (status, out.count - Int(stream.pointee.avail_out))
            }
            switch status {
            case Z_OK, Z_BUF_ERROR: break
            case Z_STREAM_END: finished = true
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib \(status)"
                throw ChartError("the archive is not valid gzip (\(reason))")
            }
            produced += count
            guard produced <= limit else { throw ChartError("the archive inflates to more than \(limit) bytes") }
            try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            if status == Z_BUF_ERROR && count == 0 { break }
        }
        if finished && stream.pointee.avail_in > 0 { throw ChartError("the archive has bytes after its gzip stream") }
    }
}
