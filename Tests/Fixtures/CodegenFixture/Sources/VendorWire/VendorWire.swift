// Generated at build time from vendor.schema.json, as arcp-codegen.json says: every type in
// `enum Vendor`, package access, types and validators only.

/// What this module is.
package enum VendorWireInfo {
    package static let summary = "a vendor's own messages, beside ARCPGenerated"
}
