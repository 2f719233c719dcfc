// The wire types of a newer schema draft: generated at build time by the ARCPCodegen plugin
// from arcp.schema.json in this directory (written from the shipped schema by CodegenFixtureTests).

/// What this module is.
public enum DraftWireInfo {
    public static let summary = "ARCP wire types generated from a newer draft of the schema"
}
