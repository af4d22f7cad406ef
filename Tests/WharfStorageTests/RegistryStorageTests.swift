import Foundation
import Logging
import NIOCore
import Testing
import WharfCore

@testable import WharfStorage

/// The storage layer on a real data directory: files, fsync'd commits, and the SQLite database.
@Suite struct RegistryStorageTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-storage-\(UUID())").path

    func open(encrypted: Bool = false) throws -> Registry { try openRegistry(directory, encrypted: encrypted) }

    func body(_ parts: String...) -> [ByteBuffer] { parts.map { ByteBuffer(string: $0) } }

    /// Regular files below a folder of the data directory, as relative paths.
    func files(_ subdirectory: String) -> [String] {
        let root = "\(directory)/\(subdirectory)"
        let paths = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
        return paths.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    @Test func aBlobIsStoredOnceForEveryRepository() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let bytes = "the same layer"
        let digest = Digest.of(Array(bytes.utf8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let repository = try RepositoryName("repo\(index % 3)")
                    try await registry.uploadBlob(repository, digest: digest, body: self.body("the same", " layer").async)
                }
            }
            try await group.waitForAll()
        }
        #expect(files("blobs/sha256") == ["\(digest.hex.prefix(2))/\(digest.hex)"])
        #expect(files("uploads").isEmpty)
        let statistics = try await registry.blobStatistics()
        #expect(statistics.count == 1 && statistics.bytes == Int64(bytes.utf8.count))
        for index in 0..<3 { #expect(try await registry.blobSize(try RepositoryName("repo\(index)"), digest) == 14) }
        // The committed file holds exactly the bytes its name promises.
        let stored = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)"))
        #expect(Digest.of(Array(stored)) == digest)
    }

    @Test(arguments: [false, true]) func anUploadSurvivesARestartAndIsVerifiedWhole(encrypted: Bool) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("resume")
        let id: String
        do {
            let registry = try open(encrypted: encrypted)
            id = try await registry.startUpload(repository)
            _ = try await registry.appendUpload(repository, id, start: 0, length: 6, body: body("first ").async)
        }
        // A new Registry on the same directory: the in-memory hash is gone, the session is not.
        let registry = try open(encrypted: encrypted)
        #expect(try await registry.uploadSize(repository, id) == 6)
        _ = try await registry.appendUpload(repository, id, start: 6, length: nil, body: body("second").async)
        let wrong = Digest.of(Array("first other".utf8))
        await #expect(throws: RegistryError.self) {
            try await registry.completeUpload(repository, id, digest: wrong, body: [ByteBuffer]().async)
        }
        #expect(files("uploads").isEmpty)

        let again = try await registry.startUpload(repository)
        _ = try await registry.appendUpload(repository, again, start: 0, length: nil, body: body("first ").async)
        let restarted = try open(encrypted: encrypted)
        let digest = Digest.of(Array("first second".utf8))
        try await restarted.completeUpload(repository, again, digest: digest, body: body("second").async)
        #expect(try await restarted.blobSize(repository, digest) == 12)
    }

    @Test func aFailedManifestPutChangesNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("atomic")
        let config = Digest.of(Array("{}".utf8))
        try await registry.uploadBlob(repository, digest: config, body: body("{}").async)
        let missing = Digest.of(Array("missing".utf8))
        let manifest = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"\#(config)","size":2},"layers":[{"mediaType":"y","digest":"\#(missing)","size":7}]}"#
                .utf8)
        do {
            _ = try await registry.putManifest(
                repository, reference: .tag(try Tag("v1")), contentType: nil, bytes: manifest)
            Issue.record("a manifest with a missing layer was accepted")
        } catch let error as RegistryError {
            #expect(error.code == .manifestBlobUnknown)
        }
        #expect(try await registry.tags(repository, after: nil, limit: nil).isEmpty)
        await #expect(throws: RegistryError.self) { try await registry.manifestRecord(repository, .digest(Digest.of(manifest))) }
    }

    /// Many more concurrent metadata reads than SQLite readers and cooperative threads: every read must wait for a
    /// reader without blocking a thread (a blocking wait here once deadlocked the server under load).
    @Test(.timeLimit(.minutes(1))) func concurrentReadsDoNotExhaustThreads() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("busy")
        let config = Digest.of(Array("{}".utf8))
        try await registry.uploadBlob(repository, digest: config, body: body("{}").async)
        let manifest = Array(
            #"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(config)","size":2},"layers":[]}"#.utf8)
        _ = try await registry.putManifest(repository, reference: .tag(try Tag("v1")), contentType: nil, bytes: manifest)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask {
                    let record = try await registry.manifestRecord(repository, .tag(try Tag("v1")))
                    let size = try await registry.blobSize(repository, config)
                    #expect(record.size == Int64(manifest.count) && size == 2)
                }
            }
            try await group.waitForAll()
        }
    }

    /// Key rotation holds a session for a moment to re-wrap its key: a request arriving then waits instead of
    /// failing, while a session held by another request still answers 409.
    @Test(.timeLimit(.minutes(1))) func aRequestWaitsOutMaintenanceButNotAnotherRequest() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("sessions")
        let id = try await registry.startUpload(repository)
        let maintenance = try #require(registry.uploads.take(id, maintenance: true))
        Task {
            try await Task.sleep(for: .milliseconds(100))
            registry.uploads.release(id, maintenance)
        }
        #expect(try await registry.appendUpload(repository, id, start: 0, length: nil, body: body("data").async) == 4)

        let request = try #require(registry.uploads.take(id))
        do {
            _ = try await registry.appendUpload(repository, id, start: 4, length: nil, body: body("more").async)
            Issue.record("a session another request holds was written to")
        } catch let error as RegistryError {
            #expect(error.httpStatus == 409)
        }
        registry.uploads.release(id, request)
        #expect(try await registry.uploadSize(repository, id) == 4)
    }

    @Test(arguments: [false, true]) func staleUploadsArePurged(encrypted: Bool) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open(encrypted: encrypted)
        let repository = try RepositoryName("purge")
        let old = try await registry.startUpload(repository)
        // Age the session's file by an hour, as if it had been abandoned.
        let hourAgo = Date().addingTimeInterval(-3600)
        try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: "\(directory)/uploads/\(old)")
        let fresh = try await registry.startUpload(repository)
        #expect(try await registry.purgeUploads(olderThan: .seconds(600)) == 1)
        await #expect(throws: RegistryError.self) { try await registry.uploadSize(repository, old) }
        #expect(try await registry.uploadSize(repository, fresh) == 0)
        #expect(files("uploads") == [fresh])
    }
}
