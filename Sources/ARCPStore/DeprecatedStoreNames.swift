import ARCP

@available(*, deprecated, renamed: "SQLiteRuntimeStore")
public typealias SQLiteEventStore = SQLiteRuntimeStore
