import Testing
import WharfCore

@testable import WharfStorage

@Suite struct ReferenceCacheTests {
    let record = ManifestRecord(digest: Digest.of(Array("a".utf8)), mediaType: "m", size: 1)
    let newer = ManifestRecord(digest: Digest.of(Array("b".utf8)), mediaType: "m", size: 1)

    @Test func aReadThatRacedAWriteIsNotKept() throws {
        let cache = ReferenceCache(capacity: 10)
        let repository = try RepositoryName("r")
        let tag = Reference.tag(try Tag("v1"))
        // A read starts, a write commits and invalidates, the read's (old) answer comes back: it is not kept.
        let before = cache.generation
        cache.invalidate(repository)
        cache.insert(record, for: repository, tag, readAt: before)
        #expect(cache.lookup(repository, tag) == nil)
        // A read with no write meanwhile is kept, until a write to its repository.
        cache.insert(newer, for: repository, tag, readAt: cache.generation)
        #expect(cache.lookup(repository, tag) == newer)
        cache.invalidate(try RepositoryName("other"))
        #expect(cache.lookup(repository, tag) == newer)
        cache.invalidate(repository)
        #expect(cache.lookup(repository, tag) == nil && cache.entries == 0)
    }

    @Test func itHoldsAtMostItsCapacity() throws {
        let cache = ReferenceCache(capacity: 3)
        let repository = try RepositoryName("r")
        for index in 0..<10 {
            cache.insert(record, for: repository, .tag(try Tag("t\(index)")), readAt: cache.generation)
            #expect(cache.entries <= 3)
        }
        cache.invalidate(nil)
        #expect(cache.entries == 0)
    }
}
