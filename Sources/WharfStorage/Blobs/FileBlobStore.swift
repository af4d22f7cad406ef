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
///     uploads/<upload id>[.tail]                upload sessions in progress
///
/// Uploads live on the same file system as blobs, so a commit is fsync + rename + fsync of the directory:
/// a blob path either does not exist or holds exactly the bytes its name promises. With `encryption`, every
/// file is written encrypted (`EncryptedLayout`); a blob file's size tells its form, so a store being
/// encrypted in place serves both.
package struct FileBlobStore: BlobStore {
    package let root: String
    /// nil: new files are written in plain text.
    package let encryption: BlobEncryption?

    package init(root: String, encryption: BlobEncryption?) throws {
        self.root = root
        self.encryption = encryption
        for algorithm in Digest.Algorithm.allCases { try FileSystem.makeDirectory("\(root)/blobs/\(algorithm.rawValue)") }
        try FileSystem.makeDirectory("\(root)/uploads")
    }

    package func path(of digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    package func uploadPath(_ id: String) -> String { "\(root)/uploads/\(id)" }

    /// The size of a committed blob's file, or nil when it is absent.
    package func size(of digest: Digest) async throws -> Int64? {
        let path = path(of: digest)
        return try await blockingIO { FileSystem.size(path) }
    }

    /// Opens the committed blob `digest` of `size` bytes; nil when its file is absent.
    package func open(_ digest: Digest, size: Int64) async throws -> (any BlobReader)? {
        let path = path(of: digest)
        return try await blockingIO { [encryption] () throws -> (any BlobReader)? in
            guard let file = try FileDescriptor.openForReading(path) else { return nil }
            do {
                let stored = try file.size()
                if stored == size { return BlobFile(file: file, digest: digest, size: size, dataKey: nil) }
                guard stored == EncryptedLayout.fileSize(plaintext: size) else {
                    throw RegistryError.internalError("blob \(digest) has an unexpected size on disk")
                }
                guard let encryption else {
                    throw RegistryError.internalError("blob \(digest) is encrypted and encryption is off")
                }
                let header = try BlobHeader(readingFrom: file)
                let key = try header.dataKey(binding: .blob(digest, size: size), keys: encryption).key
                return BlobFile(file: file, digest: digest, size: size, dataKey: key)
            } catch {
                file.close()
                throw error
            }
        }
    }

    /// Writes bytes held in memory (a manifest) as a durable blob named by their digest.
    package func write(_ bytes: [UInt8], as digest: Digest) async throws {
        let temp = uploadPath("direct-\(UInt64.random(in: .min ... .max))")
        try await blockingIO { [self] in
            do {
                let file = try createFile(temp, binding: .blob(digest, size: Int64(bytes.count)))
                defer { file.close() }
                try bytes.withUnsafeBytes { raw in try file.append(raw) }
                try file.complete(as: .blob(digest, size: Int64(bytes.count)))
                try moveIntoPlace(temp, path(of: digest))
            } catch {
                FileSystem.remove(temp)
                throw error
            }
        }
    }

    // MARK: Upload files

    /// Creates the file of a new upload session; encrypted when encryption is on. Returns whether it is.
    package func createUpload(_ id: String) async throws -> Bool {
        try await blockingIO { [self] in
            try createFile(uploadPath(id), binding: .upload(id)).close()
            return encryption != nil
        }
    }

    /// Opens an upload session's file for appending or reading; `repair` only when the caller holds the session.
    func openUpload(_ id: String, encrypted: Bool, repair: Bool = true) async throws -> any UploadSink {
        try await blockingIO { [self] () throws -> any UploadSink in
            guard encrypted else { return try PlainUploadFile(path: uploadPath(id)) }
            guard let encryption else {
                throw RegistryError.internalError("upload \(id) is encrypted and encryption is off")
            }
            return try EncryptedUploadFile.open(uploadPath(id), upload: id, keys: encryption, repair: repair)
        }
    }

    /// Commits a finished upload as the blob `digest`. When the blob already exists the upload is dropped.
    func commit(upload id: String, file upload: any UploadSink, as digest: Digest, size: Int64) async throws {
        let temp = uploadPath(id)
        let target = path(of: digest)
        try await blockingIO { [self] in
            if FileSystem.size(target) == nil {
                try upload.complete(as: .blob(digest, size: size))
                try moveIntoPlace(temp, target)
            }
            removeUpload(id)
        }
    }

    /// Removes an upload session's files.
    package func removeUpload(_ id: String) {
        FileSystem.remove(uploadPath(id))
        FileSystem.remove(uploadPath(id) + ".tail")
    }

    /// Every file under `blobs/`: those named by a digest, and the rest (which no commit writes).
    package func listBlobs() async throws -> (blobs: [Digest: StoredBlob], junk: [String]) {
        let root = root + "/blobs"
        return try await blockingIO {
            var files = [Digest: StoredBlob]()
            var junk = [String]()
            for algorithm in FileSystem.list(root) {
                for prefix in FileSystem.list("\(root)/\(algorithm)") {
                    for name in FileSystem.list("\(root)/\(algorithm)/\(prefix)") {
                        let path = "\(root)/\(algorithm)/\(prefix)/\(name)"
                        if name.hasPrefix(prefix), let digest = try? Digest("\(algorithm):\(name)"),
                            let modified = FileSystem.modificationTime(path), let size = FileSystem.size(path)
                        {
                            files[digest] = StoredBlob(path: path, modified: modified, size: size)
                        } else {
                            junk.append(path)
                        }
                    }
                }
            }
            return (files, junk)
        }
    }

    package func delete(_ digest: Digest) async throws {
        let path = path(of: digest)
        try await blockingIO { FileSystem.remove(path) }
    }

    package func quarantine(_ digest: Digest) async throws -> String {
        let target = "\(root)/quarantine/\(digest.algorithm.rawValue)-\(digest.hex)"
        try await blockingIO { [self] in
            try FileSystem.makeDirectory(root + "/quarantine")
            try FileSystem.durableRename(path(of: digest), target)
        }
        return target
    }

    package func reclaim(_ digest: Digest, unless isKnown: () async throws -> Bool) async throws -> Bool {
        let aside = uploadPath("orphan-\(digest.hex)")
        guard (try? FileSystem.durableRename(path(of: digest), aside)) != nil else { return false }
        if try await isKnown() {
            try FileSystem.durableRename(aside, path(of: digest))
            return false
        }
        FileSystem.remove(aside)
        return true
    }

    // MARK: Writing files

    /// A new file for `binding`: encrypted under a new data key when encryption is on.
    func createFile(_ path: String, binding: KeyBinding) throws -> any UploadSink {
        if let encryption { return try EncryptedUploadFile.create(path, binding: binding, keys: encryption) }
        try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL).close()
        return try PlainUploadFile(path: path)
    }

    func moveIntoPlace(_ temp: String, _ target: String) throws {
        let directory = String(target[..<target.lastIndex(of: "/")!])
        if FileSystem.size(directory) == nil { try FileSystem.makeDirectory(directory) }
        try FileSystem.durableRename(temp, target)
    }
}
