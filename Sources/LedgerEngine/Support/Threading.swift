// Minimal threading primitives over pthreads: the engine's writer thread and
// WAL preparer must not run on Swift's cooperative pool (a blocking
// fdatasync would pin one of its 2 threads here).
#if canImport(Glibc)
    import Glibc
#endif

/// A mutex with a condition variable.
public final class ConditionLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    public init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Waits on the condition; call only inside `withLock`.
    public func wait() { pthread_cond_wait(&cond, &mutex) }

    /// Waits on the condition for at most `timeoutNs`; call only inside `withLock`.
    public func wait(timeoutNs: UInt64) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)  // the condition's clock
        let nanoseconds = UInt64(now.tv_nsec) + timeoutNs % 1_000_000_000
        var deadline = timespec(
            tv_sec: now.tv_sec + Int(timeoutNs / 1_000_000_000) + Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = pthread_cond_timedwait(&cond, &mutex, &deadline)
    }
    public func signal() { pthread_cond_signal(&cond) }
    public func broadcast() { pthread_cond_broadcast(&cond) }
}

/// A pthread running a closure: joined (`start`, then `join`), or detached
/// (`startDetached`) when nobody waits for its end. A joinable thread that is
/// never joined keeps its stack and its slot until the process ends: one per
/// WAL roll was enough to exhaust pthread_create in a long soak.
public final class Thread: @unchecked Sendable {
    private let body: () -> Void
    private var handle = pthread_t()

    public init(_ body: @escaping () -> Void) { self.body = body }

    public func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(
            &handle, nil,
            { context in
                let thread = Unmanaged<Thread>.fromOpaque(context!).takeRetainedValue()
                thread.body()
                return nil
            }, retained)
        precondition(created == 0, "pthread_create failed: \(created)")
    }

    public func join() { pthread_join(handle, nil) }

    /// Starts the thread detached: its resources are freed when it ends.
    public func startDetached() {
        start()
        let detached = pthread_detach(handle)
        precondition(detached == 0, "pthread_detach failed: \(detached)")
    }
}

/// A value behind a lock, for counters read by other threads (metrics).
public final class Guarded<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try lock.withLock { try body(&value) } }
}

/// A value computed on a thread of its own while the caller does other
/// work (recovery loads the snapshot while the segments are re-read).
/// `value()` joins the thread and returns the value or throws its error;
/// call it on every path (a `defer` can), so the thread never outlives the
/// work it belongs to.
final class ThreadedResult<T>: @unchecked Sendable {
    private let box: Guarded<Result<T, any Error>?>
    private let thread: Thread
    private var joined = false

    init(_ body: @escaping () throws -> T) {
        let box = Guarded<Result<T, any Error>?>(nil)
        self.box = box
        thread = Thread {
            let result = Result { try body() }
            box.withLock { $0 = result }
        }
        thread.start()
    }

    func value() throws -> T {
        if !joined {
            thread.join()
            joined = true
        }
        return try box.withLock { $0! }.get()
    }
}
