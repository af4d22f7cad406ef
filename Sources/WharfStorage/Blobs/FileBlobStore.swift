import NIOCore
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// The content-addressed blob store on a local file system.
///
/// Layout under the data directory (documented for operators in storage/README.md):
///
///     blobs/<algorithm>/<first two hex>/<hex>   committed content, named by its digest
///     uploads/<upload id>                       upload sessions in progress
///
/// Uploads live on the same file system as blobs, so a commit is fsync + rename + fsync of the directory:
/// a blob path either does not exist or holds exactly the bytes its name promises.
package struct FileBlobStore: Sendable {
    package let root: String

    package init(root: String) throws(RegistryError) {
        self.root = root
        for algorithm in Digest.Algorithm.allCases { try FileSystem.makeDirectory("\(root)/blobs/\(algorithm.rawValue)") }
        try FileSystem.makeDirectory("\(root)/uploads")
    }

    package func path(of digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    package func uploadPath(_ id: String) -> String { "\(root)/uploads/\(id)" }

    /// The size of a committed blob, or nil when its file is absent.
    package func size(of digest: Digest) async throws -> Int64? {
        let path = path(of: digest)
        return try await blockingIO { FileSystem.size(path) }
    }

    package func open(_ digest: Digest) async throws -> BlobFile? {
        let path = path(of: digest)
        return try await blockingIO { () throws -> BlobFile? in
            guard let file = try FileDescriptor.openForReading(path) else { return nil }
            return BlobFile(file: file, size: try file.size())
        }
    }

    /// Reads a small blob (a manifest) whole.
    package func readAll(_ digest: Digest, limit: Int) async throws -> [UInt8]? {
        guard let file = try await open(digest) else { return nil }
        defer { file.close() }
        guard file.size <= limit else { throw RegistryError.internalError("blob \(digest) is larger than expected") }
        let buffer = try await file.read(at: 0, count: Int(file.size))
        return Array(buffer.readableBytesView)
    }

    /// Writes bytes held in memory (a manifest) as a durable blob named by their digest.
    package func write(_ bytes: [UInt8], as digest: Digest) async throws {
        let temp = uploadPath("direct-\(UInt64.random(in: .min ... .max))")
        let target = path(of: digest)
        try await blockingIO {
            let file = try FileDescriptor.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
            do {
                try bytes.withUnsafeBytes { raw in try file.write(raw, at: 0) }
                try file.sync()
                file.close()
                try Self.moveIntoPlace(temp, target)
            } catch {
                file.close()
                FileSystem.remove(temp)
                throw error
            }
        }
    }

    /// Commits a finished upload file as the blob `digest`. When the blob already exists the upload is dropped.
    package func commit(upload id: String, as digest: Digest) async throws {
        let temp = uploadPath(id)
        let target = path(of: digest)
        try await blockingIO {
            if FileSystem.size(target) != nil {
                FileSystem.remove(temp)
                return
            }
            let file = try FileDescriptor.open(temp, flags: O_RDONLY)
            defer { file.close() }
            try file.sync()
            try Self.moveIntoPlace(temp, target)
        }
    }

    private static func moveIntoPlace(_ temp: String, _ target: String) throws(RegistryError) {
        let directory = String(target[..<target.lastIndex(of: "/")!])
        if FileSystem.size(directory) == nil { try FileSystem.makeDirectory(directory) }
        try FileSystem.durableRename(temp, target)
    }

    package func delete(_ digest: Digest) async throws {
        let path = path(of: digest)
        try await blockingIO { FileSystem.remove(path) }
    }

    /// Hashes a file from disk, for uploads whose running hash was lost (a restart) or used another algorithm.
    package func hash(upload id: String, algorithm: Digest.Algorithm) async throws -> Digest {
        try await hash(file: uploadPath(id), algorithm: algorithm)
    }

    /// Hashes a file from disk in 1 MiB reads.
    package func hash(file path: String, algorithm: Digest.Algorithm) async throws -> Digest {
        try await blockingIO { () throws -> Digest in
            let file = try FileDescriptor.open(path, flags: O_RDONLY)
            defer { file.close() }
            var hasher = DigestHasher(algorithm)
            var offset: Int64 = 0
            let allocator = ByteBufferAllocator()
            while true {
                let chunk = try file.read(count: 1 << 20, at: offset, allocator: allocator)
                if chunk.readableBytes == 0 { break }
                chunk.withUnsafeReadableBytes { hasher.update($0) }
                offset += Int64(chunk.readableBytes)
            }
            return hasher.finalize()
        }
    }
}

/// An open committed blob, read in chunks.
package struct BlobFile: Sendable {
    fileprivate let file: FileDescriptor
    package let size: Int64
    private static let allocator = ByteBufferAllocator()

    package func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        let file = file
        return try await blockingIO { try file.read(count: count, at: offset, allocator: Self.allocator) }
    }

    package func close() { file.close() }
}
