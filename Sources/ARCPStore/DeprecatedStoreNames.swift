import ARCP

/// The former name of `SQLiteRuntimeStore`.
@available(*, deprecated, renamed: "SQLiteRuntimeStore")
public typealias SQLiteEventStore = SQLiteRuntimeStore
