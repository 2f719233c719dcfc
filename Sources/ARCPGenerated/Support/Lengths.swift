/// String lengths as JSON Schema counts them for `minLength` and `maxLength`: Unicode code
/// points, not Swift `Character`s (grapheme clusters) and not bytes. Called by generated
/// validators; not intended for direct use.
public enum _SchemaLength {
    /// Whether `s` has fewer than `n` code points. A native string knows its UTF-8 length
    /// without scanning, and a code point takes 1 to 4 bytes, so the count is needed only when
    /// the byte length leaves the answer open.
    @inline(__always)
    public static func isShorter(_ s: String, than n: Int) -> Bool {
        let bytes = s.utf8.count
        if bytes < n { return true }
        if bytes / 4 >= n { return false }
        return s.unicodeScalars.count < n
    }

    /// Whether `s` has more than `n` code points.
    @inline(__always)
    public static func isLonger(_ s: String, than n: Int) -> Bool {
        let bytes = s.utf8.count
        if bytes <= n { return false }
        if bytes / 4 > n { return true }
        return s.unicodeScalars.count > n
    }
}
