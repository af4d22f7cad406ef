import Foundation
import Logging
import Synchronization
import WharfCore
import WharfStorage

/// An image to fetch ahead of its pulls: the blobs of a manifest (of every child, for an index).
package struct PreheatJob: Sendable, Codable, Equatable {
    package let id: Int
    package let repository: String
    package let reference: String
    package let digest: String
    package let blobs: [String]
    package let created: Double
}

/// The origin's preheat list, which seeder agents follow (`GET /p2p/v1/preheat?after=ID`): jobs asked for through
/// the API, and one per tag pushed to a repository that a push rule (`p2p.preheat`) names. In memory and bounded:
/// a seeder that was away longer than the list is long misses the oldest, which a pull then fetches as usual.
package final class Preheater: Sendable {
    let registry: Registry
    let pushRules: [RepositoryPattern]
    let limit: Int
    private let jobs = Mutex<(next: Int, list: [PreheatJob])>((1, []))

    package init(registry: Registry, pushRules: [RepositoryPattern], limit: Int = 1000) {
        self.registry = registry
        self.pushRules = pushRules
        self.limit = limit
    }

    /// Lists `repository:reference` for the seeders.
    package func preheat(_ repository: RepositoryName, _ reference: Reference) async throws -> PreheatJob {
        let top = try await registry.manifest(repository, reference)
        var blobs: [String] = []
        var pending = [top.bytes]
        var seen = Set<Digest>()
        while let bytes = pending.popLast() {
            let manifest = try Manifest(parsing: bytes, contentType: nil)
            for digest in manifest.blobDigests where !blobs.contains(digest.description) { blobs.append(digest.description) }
            for child in manifest.childDigests where seen.insert(child).inserted {
                pending.append(try await registry.manifest(repository, .digest(child)).bytes)
            }
        }
        return jobs.withLock { jobs in
            let job = PreheatJob(
                id: jobs.next, repository: repository.value, reference: reference.description,
                digest: top.digest.description, blobs: blobs, created: Date().timeIntervalSince1970)
            jobs.next += 1
            jobs.list.append(job)
            if jobs.list.count > limit { jobs.list.removeFirst(jobs.list.count - limit) }
            return job
        }
    }

    /// A tag was pushed: preheat it when a push rule names its repository.
    package func pushed(_ repository: RepositoryName, tag: String) {
        guard pushRules.contains(where: { $0.matches(repository.value) }), let reference = try? Reference(tag) else { return }
        Task {
            do {
                _ = try await preheat(repository, reference)
            } catch {
                registry.logger.warning(
                    "preheat on push failed", metadata: ["repository": "\(repository)", "error": "\(error)"])
            }
        }
    }

    /// The jobs after `id`, oldest first, that `visible` lets the asker see.
    package func jobs(after id: Int, visible: (String) -> Bool) -> [PreheatJob] {
        jobs.withLock { $0.list }.filter { $0.id > id && visible($0.repository) }
    }
}
