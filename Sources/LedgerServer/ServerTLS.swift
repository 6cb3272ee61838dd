// TLS for the protocol port (swift-nio-ssl): a certificate chain and key in
// PEM, TLS 1.2 or later. Off by default; the default bind is loopback.
import NIOSSL

enum ServerTLS {
    static func context(certificatePath: String, privateKeyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}
