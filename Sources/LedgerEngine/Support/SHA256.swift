// Incremental SHA-256 through OpenSSL's EVP API (SHA-NI where the CPU has
// it). Used for the WAL hash chain and the monthly segment roots.
import COpenSSLCrypto

public final class SHA256Hasher {
    public static let digestBytes = 32
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed: out of memory") }
        self.context = context
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// A hasher that has seen what this one has (EVP_MD_CTX_copy_ex): its
    /// `finish` leaves this one going on.
    public func copy() -> SHA256Hasher {
        let copy = SHA256Hasher()
        precondition(EVP_MD_CTX_copy_ex(copy.context, context) == 1, "EVP_MD_CTX_copy_ex failed")
        return copy
    }

    /// The digest of everything fed so far; the hasher must not be used after.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Self.digestBytes)
        var length: UInt32 = 0
        digest.withUnsafeMutableBufferPointer { out in
            precondition(EVP_DigestFinal_ex(context, out.baseAddress, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        }
        return digest
    }

    /// SHA-256 of the concatenation of `parts`.
    public static func digest(_ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        let hasher = SHA256Hasher()
        for part in parts { hasher.update(part) }
        return hasher.finish()
    }
}
