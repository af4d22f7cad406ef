import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Key rotation on files: a data key is re-wrapped by writing one slot of the file's header in place.
extension FileBlobStore {
    package func wrappingKey(of digest: Digest, size: Int64) async throws -> WrappingKey {
        guard let encryption else { return .plain }
        let path = path(of: digest)
        return try await blockingIO { try Self.wrappingKey(path, .blob(digest, size: size), size: size, encryption) }
    }

    package func rewrap(_ digest: Digest, size: Int64) async throws -> RewrapOutcome {
        guard let encryption else { return .absent }
        let path = path(of: digest)
        return try await blockingIO { try Self.rewrap(path, .blob(digest, size: size), size: size, encryption) }
    }

    /// The key wrapping the data key in the file at `path`; `size`, when given, is its plaintext's (a file of that
    /// size is plain text).
    static func wrappingKey(_ path: String, _ binding: KeyBinding, size: Int64?, _ encryption: BlobEncryption) throws
        -> WrappingKey
    {
        guard let file = try FileDescriptor.openForReading(path) else { return .absent }
        defer { file.close() }
        if let size, try file.size() == size { return .plain }
        return WrappingKey(try? BlobHeader(readingFrom: file), binding, encryption)
    }

    /// Wraps the file's data key with the active master key, into the header's older slot.
    static func rewrap(_ path: String, _ binding: KeyBinding, size: Int64?, _ encryption: BlobEncryption) throws
        -> RewrapOutcome
    {
        guard let file = try? FileDescriptor.open(path, flags: O_RDWR) else { return .absent }
        defer { file.close() }
        if let size, try file.size() == size { return .absent }  // plain text: nothing to re-wrap
        var header = try BlobHeader(readingFrom: file)
        guard let slot = try header.rewrap(binding, encryption) else { return .current }
        try header.encoded(slot: slot).withUnsafeBytes { try file.write($0, at: BlobHeader.offset(ofSlot: slot)) }
        try file.sync()
        return .rewrapped
    }
}
