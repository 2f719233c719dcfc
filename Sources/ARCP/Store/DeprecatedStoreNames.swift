// The names the runtime store had before it was named for what it holds (sessions, events,
// jobs, idempotency keys and outstanding credentials, not only events). Kept for source
// compatibility; each says what to use instead.

@available(*, deprecated, renamed: "RuntimeStore")
public typealias EventStore = RuntimeStore

@available(*, deprecated, renamed: "InMemoryRuntimeStore")
public typealias InMemoryEventStore = InMemoryRuntimeStore

@available(*, deprecated, renamed: "RuntimeStoreError")
public typealias EventStoreError = RuntimeStoreError

extension ARCPRuntime.Configuration {
    @available(*, deprecated, renamed: "store")
    public var eventStore: (any RuntimeStore)? {
        get { store }
        set { store = newValue }
    }

    @available(*, deprecated, renamed: "storeQueueLimit")
    public var eventStoreQueueLimit: Int {
        get { storeQueueLimit }
        set { storeQueueLimit = newValue }
    }
}

extension ARCPRuntime {
    @available(*, deprecated, renamed: "flushStore()")
    public func flushEventStore() async { await flushStore() }

    @available(*, deprecated, renamed: "storeFailures")
    public var eventStoreFailures: Int { storeFailures }
}
