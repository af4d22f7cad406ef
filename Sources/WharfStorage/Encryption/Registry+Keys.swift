import Foundation
import Logging
import NIOCore
import Synchronization
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Which master key wraps how many data keys.
package struct KeyStatus: Codable, Sendable {
    package var active: String
    /// Master key id → blob files and upload sessions whose data key it wraps.
    package var keys: [String: Int] = [:]
    /// Blob files stored in plain text (written before encryption was on).
    package var unencrypted = 0
    /// Files whose header no key opens: damaged (fsck tells more).
    package var unreadable: [String] = []
}

package struct RotationReport: Codable, Sendable {
    package var active: String
    package var rewrapped = 0
    package var alreadyCurrent = 0
    /// Upload sessions busy with a request through every attempt; the next rotation takes them.
    package var skippedUploads: [String] = []
}

package struct EncryptExistingReport: Codable, Sendable {
    package var encrypted = 0
    package var bytes: Int64 = 0
    package var alreadyEncrypted = 0
    /// Plain files whose bytes do not match their digest: left as they are for fsck.
    package var corrupt: [String] = []
}

extension Registry {
    private var encryption: BlobEncryption {
        get throws {
            guard let encryption = blobs.encryption else {
                throw RegistryError(.unsupported, status: 409, "encryption is off in this registry's configuration")
            }
            return encryption
        }
    }

    /// In-place encryption renames a new file over the plain one, which S3 objects do not allow.
    private var keyFiles: FileBlobStore {
        get throws {
            guard let files else {
                throw RegistryError(
                    .unsupported, status: 409, "in-place encryption needs the file blob store; this registry keeps blobs in S3")
            }
            return files
        }
    }

    /// Re-wraps every data key (blobs and upload sessions) with the active master key, online: content is not
    /// re-encrypted, and pushes and pulls go on. With `newKey`, the provider first brings in a new active key.
    package func rotateKeys(newKey: Bool) async throws -> RotationReport {
        let encryption = try encryption
        // Blobs in S3 and metadata in PostgreSQL: a cluster, whose other instances would not hold a key made here.
        if newKey, clusterLock != nil, files == nil {
            throw RegistryError(
                .unsupported, status: 409,
                "every instance of a cluster must hold the same master keys: give each the new key (and the old one "
                    + "as a previous key), restart them, then run wharf keys rotate --keep-key")
        }
        return try await exclusiveKeyWork {
            if newKey { _ = try encryption.addActiveKey() } else { try encryption.reload() }
            let active = encryption.active
            try await self.metadata.recordMasterKey(active.id)
            self.logger.notice("key rotation started", metadata: ["active": "\(active.id)"])
            var report = RotationReport(active: active.id)
            // A second pass catches blobs whose key was wrapped just before the new key became active.
            for pass in 0..<2 {
                try await self.forEachBlob { digest, size in
                    // In the gate, so that a sweep cannot delete a blob being written again on S3.
                    switch try await self.gate.shared({ try await self.blobs.rewrap(digest, size: size) }) {
                    case .rewrapped: report.rewrapped += 1
                    case .current where pass == 0: report.alreadyCurrent += 1
                    case .current, .absent: break
                    }
                }
            }
            var pending = try await self.metadata.uploadIDs()
            for attempt in 0..<50 where !pending.isEmpty {
                if attempt > 0 { try await Task.sleep(for: .milliseconds(100)) }
                pending = try await pending.asyncFilter { id in
                    switch try await self.sessions.rewrap(upload: id) {
                    case nil: return true
                    case .rewrapped: report.rewrapped += 1
                    case .current: report.alreadyCurrent += 1
                    case .absent: break
                    }
                    return false
                }
            }
            report.skippedUploads = pending
            report.rewrapped += try await self.resealSecrets()
            self.logger.notice(
                "key rotation finished",
                metadata: ["active": "\(active.id)", "rewrapped": "\(report.rewrapped)", "skipped": "\(pending.count)"])
            return report
        }
    }

    /// Which master key wraps how many blobs and upload sessions.
    package func keyStatus() async throws -> KeyStatus {
        let encryption = try encryption
        var status = KeyStatus(active: encryption.active.id)
        for id in encryption.keyIDs { status.keys[id] = 0 }
        func count(_ key: WrappingKey, _ what: String) {
            switch key {
            case .key(let id): status.keys[id, default: 0] += 1
            case .plain: status.unencrypted += 1
            case .unreadable: status.unreadable.append(what)
            case .absent: break
            }
        }
        try await forEachBlob { digest, size in count(try await blobs.wrappingKey(of: digest, size: size), "\(digest)") }
        for id in try await metadata.uploadIDs() { count(try await sessions.wrappingKey(ofUpload: id), "upload \(id)") }
        return status
    }

    /// Forgets a master key that wraps nothing any more.
    package func retireKey(_ id: String) async throws {
        let encryption = try encryption
        try await exclusiveKeyWork {
            let known = try encryption.keyIDs.contains(id) ? true : try await self.metadata.masterKeyIDs().contains(id)
            guard known else {
                throw RegistryError(.unsupported, status: 404, "no such key", detail: String(id.prefix(64)))
            }
            guard id != encryption.active.id else {
                throw RegistryError(.denied, status: 409, "key \(id) is the active key; rotate to another key first")
            }
            let secrets = try await self.metadata.storedReplicationRules().compactMap(\.secret)
                .filter { Self.sealingKeyID($0) == id }.count
            let users = (try await self.keyStatus().keys[id] ?? 0) + secrets
            guard users == 0 else {
                throw RegistryError(
                    .denied, status: 409, "key \(id) still wraps \(users) data key(s); run wharf keys rotate first")
            }
            if encryption.keyIDs.contains(id) { try encryption.provider.retire(id) }
            try encryption.reload()
            try await self.metadata.forgetMasterKey(id)
            self.logger.notice("master key retired", metadata: ["key": "\(id)"])
        }
    }

    /// Encrypts, in place, every blob stored in plain text. Each blob is written encrypted beside its plain file
    /// and renamed over it, so a crash at any moment leaves either the whole plain file or the whole encrypted one,
    /// and both read back (the file's size tells which it is).
    package func encryptExisting() async throws -> EncryptExistingReport {
        _ = try encryption
        let files = try keyFiles
        return try await exclusiveKeyWork {
            var report = EncryptExistingReport()
            try await self.forEachBlob { digest, size in
                let path = files.path(of: digest)
                guard FileSystem.size(path) == size else {
                    report.alreadyEncrypted += 1
                    return
                }
                guard try await self.encryptInPlace(digest, size: size, files) else {
                    report.corrupt.append(digest.description)
                    return
                }
                report.encrypted += 1
                report.bytes += size
            }
            self.logger.notice(
                "encrypted existing blobs", metadata: ["blobs": "\(report.encrypted)", "bytes": "\(report.bytes)"])
            return report
        }
    }

    // MARK: Helpers

    private func exclusiveKeyWork<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let started = keyWork.withLock { running in
            defer { running = true }
            return !running
        }
        guard started else {
            throw RegistryError(.denied, status: 409, "a key rotation or encryption is already running")
        }
        defer { keyWork.withLock { $0 = false } }
        guard let database = metadata.database as? PostgreSQLDatabase else { return try await body() }
        // On a cluster, one instance at a time.
        guard let value = try await database.whileHolding(lock: Self.keyWorkLock, body) else {
            throw RegistryError(.denied, status: 409, "a key rotation or encryption is already running on another instance")
        }
        return value
    }

    /// The advisory lock of key work on PostgreSQL (the GC's is `ClusterCommitLock`'s).
    private static let keyWorkLock: Int64 = 7_011_530_043

    private func forEachBlob(_ body: (Digest, Int64) async throws -> Void) async throws {
        try await metadata.forEachBlob { digest, size in try await body(try Digest(digest), size) }
    }

    /// Writes the plain blob encrypted beside itself, checks the digest on the way, and renames it into place.
    /// False when the plain bytes do not match the digest.
    private func encryptInPlace(_ digest: Digest, size: Int64, _ files: FileBlobStore) async throws -> Bool {
        let target = files.path(of: digest)
        let temp = files.uploadPath("encrypt-\(digest.hex)")
        let written = try await blockingIO { () throws -> Bool? in
            FileSystem.remove(temp)  // a crash's leftover
            guard let source = try FileDescriptor.openForReading(target) else { return nil }  // collected meanwhile
            defer { source.close() }
            let file = try files.createFile(temp, binding: .blob(digest, size: size))
            defer { file.close() }
            do {
                var hasher = DigestHasher(digest.algorithm)
                var offset: Int64 = 0
                while offset < size {
                    let chunk = try source.read(count: 1 << 20, at: offset, allocator: .init())
                    guard chunk.readableBytes > 0 else { break }
                    try chunk.withUnsafeReadableBytes { raw in
                        hasher.update(raw)
                        try file.append(raw)
                    }
                    offset += Int64(chunk.readableBytes)
                }
                guard offset == size, hasher.finalize() == digest else {
                    FileSystem.remove(temp)
                    return false
                }
                try file.complete(as: .blob(digest, size: size))
                return true
            } catch {
                FileSystem.remove(temp)
                throw error
            }
        }
        guard let written else { return true }
        guard written else { return false }
        // Inside the gate, so that a garbage collection sweep cannot delete the blob between the check and the
        // rename (which would bring its file back without a row).
        try await gate.shared {
            try await blockingIO {
                if FileSystem.size(target) == size {
                    try files.moveIntoPlace(temp, target)
                } else {
                    FileSystem.remove(temp)
                }
            }
        }
        return true
    }
}

extension Array where Element: Sendable {
    fileprivate func asyncFilter(_ isIncluded: (Element) async throws -> Bool) async rethrows -> [Element] {
        var kept = [Element]()
        for element in self where try await isIncluded(element) { kept.append(element) }
        return kept
    }
}
