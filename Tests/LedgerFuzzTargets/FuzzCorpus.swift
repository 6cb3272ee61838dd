import Foundation

/// The committed corpus: Tests/FuzzCorpus/<target>/ (seeds from the
/// vectors, inputs the fuzzer found interesting, and crash regressions).
public enum FuzzCorpus {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    public static func directory(_ target: FuzzTarget) -> URL { root.appendingPathComponent(target.rawValue) }

    /// Every regular file under `url` (or `url` itself), sorted by path.
    public static func files(at url: URL) -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [url] }
        let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])
        var files: [URL] = []
        while let next = enumerator?.nextObject() as? URL {
            if (try? next.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true, next.lastPathComponent != "README.md" {
                files.append(next)
            }
        }
        return files.sorted { $0.path < $1.path }
    }

    public static func bytes(_ url: URL) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: url))) ?? []
    }
}
