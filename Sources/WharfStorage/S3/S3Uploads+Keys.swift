import Foundation
import WharfCore

/// Key rotation of sessions on S3: a session's data key is in the header its row keeps, re-wrapped under the
/// session's claim.
extension S3Uploads {
    func wrappingKey(ofUpload id: String) async throws -> WrappingKey {
        guard let encryption = store.encryption else { return .plain }
        guard let (_, text) = try await metadata.uploadState(id: id), let header = try S3UploadState.decode(text).header else {
            return .absent
        }
        return WrappingKey(try? BlobHeader(parsing: [UInt8](header), path: "upload \(id)"), .upload(id), encryption)
    }

    func rewrap(upload id: String) async throws -> RewrapOutcome? {
        guard let encryption = store.encryption, let (repository, _) = try await metadata.uploadState(id: id),
            let name = try? RepositoryName(repository)
        else { return .absent }
        guard case .claimed(let text) = try await metadata.claimUpload(id: id, repository: name, for: Self.claimSeconds)
        else { return nil }  // a request holds it, or it ended meanwhile (then the next attempt finds it absent)
        do {
            var state = try S3UploadState.decode(text)
            guard let bytes = state.header else {
                try await metadata.releaseUpload(id: id, state: nil)
                return .absent
            }
            var header = try BlobHeader(parsing: [UInt8](bytes), path: "upload \(id)")
            let rewrapped = try header.rewrap(.upload(id), encryption) != nil
            state.header = Data(header.encoded)
            try await metadata.releaseUpload(id: id, state: rewrapped ? state.encoded() : nil)
            return rewrapped ? .rewrapped : .current
        } catch {
            try? await metadata.releaseUpload(id: id, state: nil)
            throw error
        }
    }
}
