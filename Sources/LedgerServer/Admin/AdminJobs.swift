// Long operator commands (snapshot, archive, restore, verify) as jobs: started by
// an `admin` request that is answered at once with the job's id, run on a
// worker thread off the commit path, watched with `job` and stopped with
// `cancel` between steps (an archival between months; a snapshot or a
// single restore cannot stop midway and says so). One job runs at a time:
// a second gets `busy` naming the first. The last 16 finished jobs are
// kept for `job`.
import Dispatch
import Foundation
import LedgerEngine

final class AdminJobs: @unchecked Sendable {
    struct Job {
        var id: UInt64
        var command: String
        var state = "running"
        var done = 0
        var total = 0
        var unit: String
        var cancellable: Bool
        var cancelRequested = false
        var result: [String: Any] = [:]
        var error: String?
        var startedNs = Ledger.wallClockNs()
        var endedNs: UInt64?
    }

    static let finishedKept = 16
    private let lock = ConditionLock()
    private var jobs: [Job] = []
    private var nextID: UInt64 = 1
    private let queue = DispatchQueue(label: "ledger.admin-jobs", qos: .utility)

    /// Starts `work` as a job unless one is running; `work` reports progress
    /// with `step(done, total)`, which returns false once cancelled.
    func start(
        _ command: String, unit: String, cancellable: Bool, _ work: @escaping @Sendable (_ step: @escaping @Sendable (Int, Int) -> Bool) throws -> [String: Any]
    ) throws -> UInt64 {
        let id = try lock.withLock { () throws -> UInt64 in
            if let running = jobs.first(where: { $0.state == "running" }) {
                throw AdminRefusal.busy("job \(running.id) (\(running.command)) is running; one job at a time")
            }
            let id = nextID
            nextID += 1
            jobs.append(Job(id: id, command: command, unit: unit, cancellable: cancellable))
            let finished = jobs.filter { $0.state != "running" }
            if finished.count > Self.finishedKept, let oldest = finished.first { jobs.removeAll { $0.id == oldest.id } }
            return id
        }
        queue.async {
            let step: @Sendable (Int, Int) -> Bool = { done, total in
                self.update(id) {
                    $0.done = done
                    $0.total = total
                }
                return !self.lock.withLock { self.jobs.first { $0.id == id }?.cancelRequested ?? false }
            }
            do {
                let result = try work(step)
                self.update(id) { job in
                    job.result = result
                    job.state = job.cancelRequested && job.done < job.total ? "cancelled" : "done"
                }
            } catch {
                self.update(id) {
                    $0.state = "failed"
                    $0.error = "\(error)"
                }
            }
            self.update(id) { $0.endedNs = Ledger.wallClockNs() }
        }
        return id
    }

    private func update(_ id: UInt64, _ change: (inout Job) -> Void) {
        lock.withLock {
            if let i = jobs.firstIndex(where: { $0.id == id }) { change(&jobs[i]) }
        }
    }

    /// The job as a JSON object, or nil for an unknown id.
    func describe(_ id: UInt64) -> [String: Any]? {
        lock.withLock { jobs.first { $0.id == id } }.map { job in
            var out: [String: Any] = [
                "job": job.id, "command": job.command, "state": job.state,
                "progress": ["done": job.done, "total": job.total, "unit": job.unit], "startedNs": job.startedNs,
            ]
            if let ended = job.endedNs { out["endedNs"] = ended }
            if !job.result.isEmpty { out["result"] = job.result }
            if let error = job.error { out["error"] = error }
            return out
        }
    }

    /// Asks a running job to stop at its next step.
    func cancel(_ id: UInt64) throws -> [String: Any] {
        try lock.withLock {
            guard let i = jobs.firstIndex(where: { $0.id == id }) else { throw AdminRefusal.invalid("no job \(id)") }
            guard jobs[i].state == "running" else { throw AdminRefusal.invalid("job \(id) has ended (\(jobs[i].state))") }
            guard jobs[i].cancellable else { throw AdminRefusal.invalid("job \(id) (\(jobs[i].command)) cannot stop midway; it ends by itself") }
            jobs[i].cancelRequested = true
        }
        return describe(id) ?? [:]
    }
}

/// Set once, read from any thread (a job's cancellation seen by its work).
final class CancelFlag: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

enum AdminRefusal: Error {
    case busy(String)
    case invalid(String)
}
