/// Keeps the blob path's chunk buffers in the heap between requests.
///
/// A blob is read and decrypted a chunk (1 MiB) at a time into a new buffer. glibc serves allocations that large
/// with their own `mmap` and unmaps them when freed, so every chunk paid for fresh zeroed pages: a sixth of the
/// server's CPU in a mixed pull went to page faults. Below 4 MiB allocations now come from the heap, which keeps up
/// to 64 MiB of freed memory per arena for the next chunks (`docs/benchmarks.md`, 2026-12-07).
enum BufferReuse {
    static func configure() {
        #if os(Linux)
            _ = mallopt(mmapThreshold, 4 << 20)
            _ = mallopt(trimThreshold, 64 << 20)
        #endif
    }

    // glibc's <malloc.h>, which the Glibc module does not export.
    private static let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
    private static let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
}

#if os(Linux)
    @_silgen_name("mallopt")
    private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
