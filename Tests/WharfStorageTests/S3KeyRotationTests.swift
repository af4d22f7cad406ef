import Foundation
import NIOCore
import Testing
import WharfCore
import WharfTestSupport

@testable import WharfStorage

/// Key rotation and `keys status` on S3 (RGW): objects are written again with their data key re-wrapped and their
/// chunks as they were, sessions re-wrapped in their rows, one rotation at a time across a cluster.
@Suite struct S3KeyRotationTests {
    let cluster = S3UploadTests()

    @Test(.timeLimit(.minutes(3))) func rotationRewrapsObjectsAndSessionsWithoutReencryptingThem() async throws {
        try await cluster.withInstances(2, encrypted: true) { instances in
            let (a, b) = (instances[0], instances[1])
            let repository = cluster.repository
            let store = a.blobs as! S3BlobStore
            let oldKey = try #require(store.encryption).active.id
            // One chunk; a few; and past the first 5 MiB, which pass through Wharf while S3 copies the rest.
            let chunk = EncryptedLayout.chunkSize
            var blobs = [(Digest, [UInt8])]()
            for size in [100, 3 * chunk + 7, S3BlobStore.rewrittenHead + 3 * chunk + 11] {
                let bytes = Array("\(size) ".utf8) + S3UploadTests.content(size)
                try await a.uploadBlob(repository, digest: Digest.of(bytes), body: S3UploadTests.body(bytes[...]))
                blobs.append((Digest.of(bytes), bytes))
            }
            // A session with a segment in the bucket and a tail, that outlives the rotation.
            let content = S3UploadTests.content(S3Uploads.segmentSize + 1000)
            let open = try await a.startUpload(repository)
            _ = try await a.appendUpload(repository, open, start: 0, length: nil, body: S3UploadTests.body(content[...]))
            let big = store.key(of: blobs[2].0)
            let before = Array(buffer: try await store.s3.object(big, upTo: 16 << 20))

            // The operator gives every instance the new key (here one key directory), then rotates on any of them.
            let newKey = try KeyringDirectory.generate(into: "\(cluster.directory)/keys").id
            try KeyringDirectory.activate(newKey, in: "\(cluster.directory)/keys")
            if TestMetadata.onPostgres {
                // One rotation at a time in the cluster: while another instance holds the lock, it is refused.
                let database = a.metadata.database as! PostgreSQLDatabase
                let refused = try await database.whileHolding(lock: 7_011_530_043) {
                    await #expect(throws: RegistryError.self) { _ = try await b.rotateKeys(newKey: false) }
                    return true
                }
                #expect(refused == true)
                await #expect(throws: RegistryError.self) { _ = try await b.rotateKeys(newKey: true) }
            }
            let report = try await b.rotateKeys(newKey: false)
            #expect(report.active == newKey && report.rewrapped == 4 && report.skippedUploads.isEmpty)
            let status = try await b.keyStatus()  // b holds the new key (a loaded its keys before it was made)
            #expect(status.keys[oldKey] == 0 && status.keys[newKey] == 4 && status.unreadable.isEmpty)
            #expect(try await b.rotateKeys(newKey: false).alreadyCurrent == 4)

            // The big object: a new header, the same chunks.
            let after = Array(buffer: try await store.s3.object(big, upTo: 16 << 20))
            #expect(after.count == before.count && after[..<BlobHeader.size] != before[..<BlobHeader.size])
            #expect(after[BlobHeader.size...] == before[BlobHeader.size...])

            // With the old key retired, a new instance reads every blob and completes the session.
            try await b.retireKey(oldKey)
            let restarted = try await cluster.instance(encrypted: true)
            for (digest, bytes) in blobs {
                let blob = try await restarted.openBlob(repository, digest)
                #expect(try await blob.digest(.sha256) == digest && blob.size == Int64(bytes.count))
            }
            let rest = S3UploadTests.content(5000)
            try await restarted.completeUpload(
                repository, open, digest: Digest.of(content + rest), body: S3UploadTests.body(rest[...]))
            #expect(
                try await restarted.openBlob(repository, Digest.of(content + rest)).digest(.sha256) == Digest.of(content + rest))
            #expect(try await S3UploadTests.showsPlaintext(store.s3) == false)
            try await restarted.close()
        }
    }
}
