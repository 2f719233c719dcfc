import ARCPConformance
import Testing

/// The catalog itself: ids unique, sections and texts filled in, at least 80 scenarios.
@Suite struct CatalogTests {
    @Test func idsAreUniqueAndWellFormed() {
        let ids = ScenarioCatalog.all.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids.count >= 80)
        for s in ScenarioCatalog.all {
            #expect(s.id.contains("."), "\(s.id)")
            #expect(!s.section.isEmpty && !s.title.isEmpty && !s.requirement.isEmpty, "\(s.id)")
        }
    }
}
