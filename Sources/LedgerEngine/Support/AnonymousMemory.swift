// Large zeroed buffers straight from the kernel (mmap, MAP_ANONYMOUS): the
// pages read as zeros and cost nothing until first touched. calloc gives
// the same only while glibc serves the size with mmap; once such a block is
// freed, glibc raises its mmap threshold (up to 32 MiB) and later callocs
// of 16 MiB come from the heap and are memset — at every open, three of
// them (the WAL writer's record buffer and the two pending groups): 7% of
// the engine simulation's time, which reopens thousands of times.
#if canImport(Glibc)
    import Glibc
#endif

enum AnonymousMemory {
    /// `bytes` of zeroed, private memory; released only by `release`.
    static func allocate(bytes: Int) -> UnsafeMutableRawBufferPointer {
        precondition(bytes > 0, "an allocation of \(bytes) bytes")
        let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // Out of address space is as fatal here as a failed calloc was.
        precondition(address != MAP_FAILED && address != nil, "mmap of \(bytes) anonymous bytes failed: errno \(errno)")
        return UnsafeMutableRawBufferPointer(start: address, count: bytes)
    }

    static func release(_ buffer: UnsafeMutableRawBufferPointer) {
        let result = munmap(buffer.baseAddress, buffer.count)
        precondition(result == 0, "munmap failed: errno \(errno)")
    }
}
