import Crypto
import Foundation
import NIOCore
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// An encrypted upload file: header and whole sealed chunks in `<path>`, the partial last chunk sealed in
/// `<path>.tail`.
///
/// No sealed chunk is ever rewritten in place. Appending seals whole chunks after the last one, and the partial
/// remainder replaces the tail file atomically (a new random nonce each time), so a crash in the middle of a
/// write never damages bytes already acknowledged, and no nonce is used twice under one key. On completion the
/// tail becomes the last chunk and the data key is re-wrapped bound to the digest (`complete`).
final class EncryptedUploadFile: UploadSink, @unchecked Sendable {
    private let path: String
    private let file: FileDescriptor
    private let keys: BlobEncryption
    private let dataKey: SymmetricKey
    /// What the data key is wrapped for now: the session, or (written whole) the blob.
    private let binding: KeyBinding
    private let cipher: ChunkCipher
    private var header: BlobHeader
    /// Whole chunks in the file.
    private var chunks: Int64
    /// Plaintext of the partial last chunk.
    private var carry: [UInt8]

    private static let allocator = ByteBufferAllocator()

    var size: Int64 { chunks * Int64(EncryptedLayout.chunkSize) + Int64(carry.count) }
    private var tailPath: String { path + ".tail" }

    /// Creates the file with its header: a new data key wrapped by the active master key.
    static func create(_ path: String, binding: KeyBinding, keys: BlobEncryption) throws
        -> EncryptedUploadFile
    {
        let dataKey = BlobEncryption.newDataKey()
        let header = try BlobHeader.new(dataKey: dataKey, binding: binding, master: keys.active)
        let file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        do {
            try header.encoded.withUnsafeBytes { raw in try file.write(raw, at: 0) }
        } catch {
            file.close()
            FileSystem.remove(path)
            throw error
        }
        return EncryptedUploadFile(
            path: path, file: file, keys: keys, dataKey: dataKey, binding: binding, header: header, chunks: 0, carry: [])
    }

    /// Opens the session `id`: whole chunks up to the last complete one, and the tail when it continues them.
    /// With `repair` (for a request that holds the session), bytes of an append that a crash cut short are cut
    /// off; they were never acknowledged. Without it (a status request) nothing is changed.
    static func open(_ path: String, upload id: String, keys: BlobEncryption, repair: Bool) throws -> EncryptedUploadFile {
        let file = try FileDescriptor.open(path, flags: O_RDWR)
        do {
            let header = try BlobHeader(readingFrom: file)
            let dataKey = try header.dataKey(binding: .upload(id), keys: keys).key
            let body = try file.size() - Int64(BlobHeader.size)
            let chunks = body / Int64(EncryptedLayout.stride)
            if repair, body % Int64(EncryptedLayout.stride) != 0 {
                try file.truncate(to: EncryptedLayout.offset(ofChunk: chunks))
            }
            let upload = EncryptedUploadFile(
                path: path, file: file, keys: keys, dataKey: dataKey, binding: .upload(id), header: header,
                chunks: chunks, carry: [])
            upload.carry = try upload.readTail(index: chunks)
            return upload
        } catch {
            file.close()
            throw error
        }
    }

    private init(
        path: String, file: FileDescriptor, keys: BlobEncryption, dataKey: SymmetricKey, binding: KeyBinding,
        header: BlobHeader, chunks: Int64, carry: [UInt8]
    ) {
        self.path = path
        self.file = file
        self.keys = keys
        self.dataKey = dataKey
        self.binding = binding
        cipher = ChunkCipher(key: dataKey)
        self.header = header
        self.chunks = chunks
        self.carry = carry
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        let chunkSize = EncryptedLayout.chunkSize
        var sealed = Self.allocator.buffer(capacity: (carry.count + bytes.count) / chunkSize * EncryptedLayout.stride)
        var rest = bytes[...]
        let first = chunks
        var next = chunks
        if !carry.isEmpty {
            let take = min(chunkSize - carry.count, rest.count)
            carry += rest.prefix(take)
            rest = rest.dropFirst(take)
            if carry.count == chunkSize {
                try carry.withUnsafeBytes { raw in
                    try EncryptedLayout.seal(raw, index: next, with: cipher, into: &sealed)
                }
                carry = []
                next += 1
            }
        }
        while rest.count >= chunkSize {
            try EncryptedLayout.seal(
                UnsafeRawBufferPointer(rebasing: rest.prefix(chunkSize)), index: next, with: cipher, into: &sealed)
            rest = rest.dropFirst(chunkSize)
            next += 1
        }
        carry += rest
        try sealed.withUnsafeReadableBytes { raw in
            try file.write(raw, at: EncryptedLayout.offset(ofChunk: first))
        }
        chunks = next
    }

    /// Replaces the tail file with the partial last chunk (or removes it when there is none).
    func finish() throws {
        guard !carry.isEmpty else {
            FileSystem.remove(tailPath)
            return
        }
        var bytes = Self.allocator.buffer(capacity: 8 + EncryptedLayout.stride)
        bytes.writeInteger(UInt64(chunks))
        try carry.withUnsafeBytes { raw in
            try EncryptedLayout.seal(raw, index: chunks, with: cipher, into: &bytes)
        }
        let temp = tailPath + ".new"
        let tail = try FileDescriptor.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { tail.close() }
        try bytes.withUnsafeReadableBytes { raw in try tail.write(raw, at: 0) }
        guard rename(temp, tailPath) == 0 else { throw posixError("rename", tailPath) }
    }

    func rollback(to size: Int64) throws {
        let chunkSize = Int64(EncryptedLayout.chunkSize)
        let index = size / chunkSize
        let kept = Int(size % chunkSize)
        let partial = index < chunks ? try readChunk(index) : carry
        carry = Array(partial.prefix(kept))
        chunks = index
        try finish()
        try file.truncate(to: EncryptedLayout.offset(ofChunk: index))
    }

    func read(_ body: (UnsafeRawBufferPointer) -> Void) throws {
        for index in 0..<chunks { try readChunk(index).withUnsafeBytes { body($0) } }
        carry.withUnsafeBytes { body($0) }
    }

    /// Seals the partial last chunk into the file, binds the data key to what the upload turned out to be (when
    /// it was bound to the session) and makes the file durable. The tail file is left for the caller to remove
    /// once the blob is in place.
    func complete(as blob: KeyBinding) throws {
        if !carry.isEmpty {
            var sealed = Self.allocator.buffer(capacity: EncryptedLayout.stride)
            try carry.withUnsafeBytes { raw in
                try EncryptedLayout.seal(raw, index: chunks, with: cipher, into: &sealed)
            }
            try sealed.withUnsafeReadableBytes { raw in
                try file.write(raw, at: EncryptedLayout.offset(ofChunk: chunks))
            }
        }
        if blob != binding {
            let slot = try header.wrap(dataKey, binding: blob, master: keys.active)
            try header.encoded(slot: slot).withUnsafeBytes { raw in
                try file.write(raw, at: BlobHeader.offset(ofSlot: slot))
            }
        }
        try file.sync()
    }

    func close() { file.close() }

    private func readChunk(_ index: Int64) throws -> [UInt8] {
        let sealed = try file.readExactly(EncryptedLayout.stride, at: EncryptedLayout.offset(ofChunk: index))
        return try open(sealed, index: index, path: path)
    }

    private func readTail(index: Int64) throws -> [UInt8] {
        guard let tail = try FileDescriptor.openForReading(tailPath) else { return [] }
        defer { tail.close() }
        let bytes = Array(try tail.read(count: 8 + EncryptedLayout.stride, at: 0, allocator: .init()).readableBytesView)
        guard bytes.count > 8, bytes[0..<8].reduce(0, { $0 << 8 | Int64($1) }) == index else { return [] }
        return try open(Array(bytes[8...]), index: index, path: tailPath)
    }

    private func open(_ sealed: [UInt8], index: Int64, path: String) throws -> [UInt8] {
        do {
            return try sealed.withUnsafeBytes { raw in try EncryptedLayout.open(raw, index: index, with: cipher) }
        } catch {
            throw RegistryError.internalError("\(path): chunk \(index) does not authenticate")
        }
    }
}
