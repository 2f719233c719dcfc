@testable import ARCP
import ARCPTesting
import Foundation
import Testing

/// Symlink resolution for `fs.*` leases is on by default (issue 10, safe defaults), and it
/// follows the path the kernel walks: a `..` after a symlink climbs from the link's target.
@Suite("Lease symlink defaults")
struct LeaseSymlinkDefaultTests {
    @Test("resolution is on by default, in LeaseAuthority and in the runtime's configuration")
    func onByDefault() {
        #expect(LeaseAuthority.Configuration().resolveSymlinks)
        #expect(ARCPRuntime.Configuration().leaseEnforcement.resolveSymlinks)
    }

    @Test("with the default configuration, a link inside the granted tree pointing outside it is denied")
    func defaultDeniesEscapingLinks() throws {
        let fx = try LeaseSymlinkFixture()
        let lease = try ValidatedLease(["fs.read": [fx.root + "/granted/**"], "fs.write": [fx.root + "/granted/**"]])
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock())
        for ns in [LeaseNamespace.fsRead, .fsWrite] {
            #expect(authority.isAuthorized(ns, fx.root + "/granted/file.txt"))
            #expect(authority.isAuthorized(ns, fx.root + "/granted/new-file"))
            #expect(authority.isAuthorized(ns, fx.root + "/granted/inner/x"), "a link that stays inside is followed")
            #expect(!authority.isAuthorized(ns, fx.root + "/granted/escape/key"), "\(ns) through a link to a sibling tree")
            #expect(!authority.isAuthorized(ns, fx.root + "/granted/relative-escape"), "\(ns) through a relative link")
            #expect(!authority.isAuthorized(ns, fx.root + "/granted/dangling"), "\(ns) through a dangling link")
        }
        do {
            try authority.authorize(.fsRead, fx.root + "/granted/escape/key")
            Issue.record("an escaping symlink was authorized")
        } catch {
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("resolves to"), "the message says where the path leads: \(error.message)")
        }
    }

    @Test("a '..' after a symlink is applied to the link's target, as open(2) does")
    func dotDotAfterSymlinkFollowsTheKernel() throws {
        let fx = try LeaseSymlinkFixture()
        // A file next to secret/: lexically /granted/escape/../outside.txt is /granted/outside.txt
        // (inside the grant), but the kernel reads <root>/outside.txt.
        _ = FileManager.default.createFile(atPath: fx.root + "/outside.txt", contents: Data("outside".utf8))
        let lease = try ValidatedLease(["fs.read": [fx.root + "/granted/**"]])
        let lexical = try LeaseAuthority(lease: lease, clock: ManualLeaseClock(), configuration: .init(resolveSymlinks: false))
        #expect(lexical.isAuthorized(.fsRead, fx.root + "/granted/escape/../outside.txt"), "the lexical reading is inside")
        let resolving = try LeaseAuthority(lease: lease, clock: ManualLeaseClock())
        #expect(!resolving.isAuthorized(.fsRead, fx.root + "/granted/escape/../outside.txt"))
        #expect(!resolving.isAuthorized(.fsRead, fx.root + "/granted/escape/../not-there"))
        #expect(!resolving.isAuthorized(.fsRead, fx.root + "/granted/escape/%2e%2e/outside.txt"), "an encoded dot segment is refused")
        // A '..' that stays inside (no symlink before it) is still fine.
        #expect(resolving.isAuthorized(.fsRead, fx.root + "/granted/sub/../file.txt"))
        #expect(resolving.isAuthorized(.fsRead, fx.root + "/granted/inner/../file.txt"), "inner → granted/sub, whose parent is granted")
    }

    @Test("a '..' below a directory that does not exist cannot be resolved, so it is denied")
    func dotDotBelowMissingDirectory() throws {
        let fx = try LeaseSymlinkFixture()
        let lease = try ValidatedLease(["fs.write": [fx.root + "/granted/**"]])
        let authority = try LeaseAuthority(lease: lease, clock: ManualLeaseClock())
        #expect(authority.isAuthorized(.fsWrite, fx.root + "/granted/new-dir/new-file"))
        #expect(!authority.isAuthorized(.fsWrite, fx.root + "/granted/new-dir/../file.txt"))
    }

    @Test("kernel readings keep '..' and drop '.' and empty segments")
    func kernelReadings() {
        #expect(LeaseCanonical.kernelPathReadings("/a//./b/../c/") == [Array("/a/b/../c".utf8)])
        #expect(LeaseCanonical.kernelPathReadings("/a/%41") == [Array("/a/A".utf8), Array("/a/%41".utf8)])
        #expect(LeaseCanonical.kernelPathReadings("/") == [[]])
        #expect(LeaseCanonical.kernelPathReadings("relative") == nil)
        #expect(LeaseCanonical.kernelPathReadings("/a/%2f") == nil)
    }
}
