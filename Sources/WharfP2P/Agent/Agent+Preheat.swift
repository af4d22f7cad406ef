import Logging
import WharfCore

extension Agent {
    /// A seeder follows the origin's preheat list with its own credentials, and fetches every blob listed into its
    /// cache, where it then serves their pieces to the agents that pull them.
    package func followPreheats(authorization: String?, every interval: Duration = .seconds(2)) async {
        var after = 0
        while !Task.isCancelled {
            do {
                for job in try await client.preheatJobs(after: after, authorization: authorization) {
                    after = max(after, job.id)
                    await seed(job, authorization: authorization)
                }
            } catch {
                logger.warning("the preheat list cannot be read", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Fetches a job's blobs as a pull through this agent would, and waits until each is whole.
    private func seed(_ job: PreheatJob, authorization: String?) async {
        for blob in job.blobs {
            guard let digest = try? Digest(blob) else { continue }
            switch await self.blob(repository: job.repository, digest: digest, authorization: authorization) {
            case .pieces(let fetch?, let list):
                do {
                    for piece in list.pieces.indices { try await fetch.waitFor(piece) }
                } catch {
                    logger.warning("preheat fetch failed", metadata: ["digest": "\(blob)", "error": "\(error)"])
                }
            case .pieces(nil, let list):
                cache.endReading(list.digest)
            case .refused(let answer):
                logger.warning(
                    "preheat refused by the origin", metadata: ["repository": "\(job.repository)", "status": "\(answer.status)"])
                return
            case .direct:
                continue  // under one piece, or no tracker: a pull fetches it as fast as a peer would
            }
        }
        logger.info("preheated", metadata: ["repository": "\(job.repository)", "reference": "\(job.reference)"])
    }
}
