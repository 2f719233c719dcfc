// The names the runtime store had before it was named for what it holds (sessions, events,
// jobs, idempotency keys and outstanding credentials, not only events). Kept for source
// compatibility; each says what to use instead.

/// The former name of `RuntimeStore`.
@available(*, deprecated, renamed: "RuntimeStore")
public typealias EventStore = RuntimeStore

/// The former name of `InMemoryRuntimeStore`.
@available(*, deprecated, renamed: "InMemoryRuntimeStore")
public typealias InMemoryEventStore = InMemoryRuntimeStore

/// The former name of `RuntimeStoreError`.
@available(*, deprecated, renamed: "RuntimeStoreError")
public typealias EventStoreError = RuntimeStoreError

extension ARCPRuntime.Configuration {
    /// The former name of `store`.
    @available(*, deprecated, renamed: "store")
    public var eventStore: (any RuntimeStore)? {
        get { store }
        set { store = newValue }
    }

    /// The former name of `storeQueueLimit`.
    @available(*, deprecated, renamed: "storeQueueLimit")
    public var eventStoreQueueLimit: Int {
        get { storeQueueLimit }
        set { storeQueueLimit = newValue }
    }
}

extension ARCPRuntime {
    /// The former name of `flushStore()`.
    @available(*, deprecated, renamed: "flushStore()")
    public func flushEventStore() async { await flushStore() }

    /// The former name of `storeFailures`.
    @available(*, deprecated, renamed: "storeFailures")
    public var eventStoreFailures: Int { storeFailures }
}
