// The matching engine behind lease patterns.
//
// A pattern is compiled once into a small regular expression over UTF-8 bytes (`GlobNode`),
// then into an NFA, then into a DFA over byte classes (`GlobDFA`). Matching a canonical
// target is one table lookup per byte with an early exit on dead states: no regex engine,
// no allocation. Subset proofs (§9.4) are exact language inclusion on these DFAs, done by a
// bounded product search; when the bound is hit the proof fails (conservative).

/// A set of bytes (256 bits).
struct ByteSet: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    static let empty = ByteSet(words: (0, 0, 0, 0))
    static let all = ByteSet(words: (~0, ~0, ~0, ~0))

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    init(_ bytes: [UInt8]) {
        self = .empty
        for b in bytes { insert(b) }
    }

    func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func subtracting(_ other: ByteSet) -> ByteSet {
        ByteSet(words: (words.0 & ~other.words.0, words.1 & ~other.words.1, words.2 & ~other.words.2, words.3 & ~other.words.3))
    }

    static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// A regular expression over bytes, just rich enough for lease globs.
indirect enum GlobNode {
    /// These bytes, in order.
    case bytes([UInt8])
    /// Zero or more bytes from the set.
    case star(ByteSet)
    /// One or more bytes from the set.
    case plus(ByteSet)
    /// The nodes in sequence.
    case concat([GlobNode])
    /// The node or nothing.
    case optional(GlobNode)
}

/// Bytes in the order used to pick class representatives, so witnesses and samples read
/// well: lowercase letters, digits, other printable ASCII, then everything else.
let preferredByteOrder: [UInt8] = {
    var order: [UInt8] = Array(UInt8(ascii: "a")...UInt8(ascii: "z")) + Array(UInt8(ascii: "0")...UInt8(ascii: "9"))
    var seen = Set(order)
    for b in UInt8(0x21)...UInt8(0x7E) where !seen.contains(b) { order.append(b) }
    seen = Set(order)
    for b in UInt8(0)...UInt8(255) where !seen.contains(b) { order.append(b) }
    return order
}()

/// A deterministic automaton over byte classes.
struct GlobDFA: Sendable {
    /// Byte → class id.
    let classOf: [UInt8]
    /// Number of byte classes.
    let classCount: Int
    /// `table[state * classCount + class]` is the next state.
    let table: [UInt16]
    /// Whether each state accepts.
    let accepting: [Bool]
    /// Whether an accepting state is reachable from each state.
    let live: [Bool]
    /// A shortest accepted string (`nil` when nothing is accepted); a cheap first test
    /// in inclusion checks.
    let sample: [UInt8]?

    var stateCount: Int { accepting.count }

    /// Whether the automaton accepts exactly `bytes`.
    @inline(__always)
    func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        table.withUnsafeBufferPointer { table in
            classOf.withUnsafeBufferPointer { classOf in
                live.withUnsafeBufferPointer { live in
                    var state = 0
                    for b in bytes {
                        state = Int(table[state &* classCount &+ Int(classOf[Int(b)])])
                        if !live[state] { return false }
                    }
                    return accepting[state]
                }
            }
        }
    }

    func matches(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { matches($0) }
    }

    /// Compiles `node`; `nil` when the DFA would exceed `maxStates`.
    static func compile(_ node: GlobNode, maxStates: Int = 1024) -> GlobDFA? {
        var nfa = NFA()
        let start = nfa.newState()
        let end = nfa.build(node, from: start)
        nfa.accept = end
        return nfa.determinize(maxStates: maxStates)
    }
}

/// Thompson-style NFA with byte-set transitions and epsilon moves.
private struct NFA {
    var edges: [[(ByteSet, Int)]] = []
    var epsilons: [[Int]] = []
    var accept = 0

    mutating func newState() -> Int {
        edges.append([])
        epsilons.append([])
        return edges.count - 1
    }

    mutating func build(_ node: GlobNode, from start: Int) -> Int {
        switch node {
        case .bytes(let bytes):
            var s = start
            for b in bytes {
                let t = newState()
                edges[s].append((ByteSet([b]), t))
                s = t
            }
            return s
        case .star(let set):
            let m = newState()
            epsilons[start].append(m)
            edges[m].append((set, m))
            return m
        case .plus(let set):
            let m = newState()
            edges[start].append((set, m))
            edges[m].append((set, m))
            return m
        case .concat(let nodes):
            var s = start
            for n in nodes { s = build(n, from: s) }
            return s
        case .optional(let inner):
            let e = build(inner, from: start)
            let t = newState()
            epsilons[start].append(t)
            epsilons[e].append(t)
            return t
        }
    }

    func closure(_ states: [Int]) -> [Int] {
        var seen = Set(states)
        var stack = states
        while let s = stack.popLast() {
            for t in epsilons[s] where seen.insert(t).inserted { stack.append(t) }
        }
        return seen.sorted()
    }

    func determinize(maxStates: Int) -> GlobDFA? {
        // Byte classes: bytes that no transition set tells apart share a class.
        var classOf = [Int](repeating: 0, count: 256)
        var classCount = 1
        var distinctSets = Set<ByteSet>()
        for list in edges { for (set, _) in list { distinctSets.insert(set) } }
        for set in distinctSets {
            var remap: [Int: Int] = [:]
            var next = 0
            for b in 0..<256 {
                let key = classOf[b] * 2 + (set.contains(UInt8(b)) ? 1 : 0)
                if let id = remap[key] {
                    classOf[b] = id
                } else {
                    remap[key] = next
                    classOf[b] = next
                    next += 1
                }
            }
            classCount = next
        }
        var representative = [UInt8](repeating: 0, count: classCount)
        var seenClass = [Bool](repeating: false, count: classCount)
        for b in preferredByteOrder where !seenClass[classOf[Int(b)]] {
            seenClass[classOf[Int(b)]] = true
            representative[classOf[Int(b)]] = b
        }

        var ids: [[Int]: Int] = [:]
        var sets: [[Int]] = []
        var table: [UInt16] = []
        let startSet = closure([0])
        ids[startSet] = 0
        sets.append(startSet)
        var index = 0
        while index < sets.count {
            let current = sets[index]
            for c in 0..<classCount {
                let byte = representative[c]
                var targets: [Int] = []
                for s in current {
                    for (set, t) in edges[s] where set.contains(byte) { targets.append(t) }
                }
                let next = closure(targets)
                let id: Int
                if let existing = ids[next] {
                    id = existing
                } else {
                    guard sets.count < maxStates else { return nil }
                    id = sets.count
                    ids[next] = id
                    sets.append(next)
                }
                table.append(UInt16(id))
            }
            index += 1
        }
        let accepting = sets.map { $0.contains(accept) }
        // Live states: those from which an accepting state is reachable.
        var reverse = [[Int]](repeating: [], count: sets.count)
        for s in 0..<sets.count {
            for c in 0..<classCount { reverse[Int(table[s * classCount + c])].append(s) }
        }
        var live = accepting
        var stack = (0..<sets.count).filter { accepting[$0] }
        while let s = stack.popLast() {
            for p in reverse[s] where !live[p] {
                live[p] = true
                stack.append(p)
            }
        }
        // A shortest accepted string, by breadth-first search.
        var sample: [UInt8]?
        var previous: [(state: Int, byte: UInt8)?] = Array(repeating: nil, count: sets.count)
        var reached = [Bool](repeating: false, count: sets.count)
        reached[0] = true
        var queue = [0]
        var head = 0
        while head < queue.count {
            let s = queue[head]
            head += 1
            if accepting[s] {
                var out: [UInt8] = []
                var cursor = s
                while let p = previous[cursor] {
                    out.append(p.byte)
                    cursor = p.state
                }
                sample = out.reversed()
                break
            }
            for c in 0..<classCount {
                let t = Int(table[s * classCount + c])
                if !reached[t] && live[t] {
                    reached[t] = true
                    previous[t] = (s, representative[c])
                    queue.append(t)
                }
            }
        }
        return GlobDFA(
            classOf: classOf.map { UInt8($0) }, classCount: classCount, table: table, accepting: accepting, live: live, sample: sample)
    }
}

/// Exact language inclusion between DFAs.
enum GlobInclusion {
    /// The outcome of an inclusion check.
    enum Outcome: Equatable {
        /// Every string `child` accepts, one of the parents accepts.
        case included
        /// `witness` is accepted by `child` and by no parent.
        case counterexample([UInt8])
        /// The search exceeded its budget; inclusion is not proven.
        case undecided
    }

    /// The default work budget of one subset proof: product states times automata.
    static let defaultBudget = 4_000_000

    /// Whether L(child) ⊆ L(parent₁) ∪ … ∪ L(parentₙ). Each parent is tried alone first
    /// (the common case), then the union. `budget` (product states × automata visited)
    /// is shared across calls so a whole lease proof is bounded; when it runs out the
    /// answer is `.undecided`.
    static func check(child: GlobDFA, parents: [GlobDFA], budget: inout Int) -> Outcome {
        guard let sample = child.sample else { return .included }  // the child accepts nothing
        var firstWitness: [UInt8]?
        for p in parents {
            // A parent that rejects the child's sample cannot include it alone.
            if !p.matches(sample) {
                if firstWitness == nil { firstWitness = sample }
                continue
            }
            switch search(child: child, parents: [p], budget: &budget) {
            case .included: return .included
            case .undecided: return .undecided
            case .counterexample(let w): if firstWitness == nil { firstWitness = w }
            }
        }
        if parents.count <= 1 { return firstWitness.map { .counterexample($0) } ?? search(child: child, parents: [], budget: &budget) }
        return search(child: child, parents: parents, budget: &budget)
    }

    /// `check` with a fresh default budget.
    static func check(child: GlobDFA, parents: [GlobDFA]) -> Outcome {
        var budget = defaultBudget
        return check(child: child, parents: parents, budget: &budget)
    }

    /// Breadth-first search of the product automaton for a string the child accepts and
    /// no parent does.
    private static func search(child: GlobDFA, parents: [GlobDFA], budget: inout Int) -> Outcome {
        // Joint byte classes: bytes that no automaton tells apart.
        var representatives: [UInt8] = []
        if parents.count == 1 {
            let p = parents[0]
            var seen = [Bool](repeating: false, count: child.classCount * p.classCount)
            for b in preferredByteOrder {
                let key = Int(child.classOf[Int(b)]) * p.classCount + Int(p.classOf[Int(b)])
                if !seen[key] {
                    seen[key] = true
                    representatives.append(b)
                }
            }
        } else {
            var seenKeys = Set<[Int]>()
            for b in preferredByteOrder {
                var key = [Int(child.classOf[Int(b)])]
                for p in parents { key.append(Int(p.classOf[Int(b)])) }
                if seenKeys.insert(key).inserted { representatives.append(b) }
            }
        }
        struct Node: Hashable {
            var child: Int
            /// Parent states; a parent that can no longer accept is recorded as -1.
            var parents: [Int]
        }
        func step(_ dfa: GlobDFA, _ state: Int, _ byte: UInt8) -> Int {
            Int(dfa.table[state * dfa.classCount + Int(dfa.classOf[Int(byte)])])
        }
        let cost = parents.count + 1
        let start = Node(child: 0, parents: parents.indices.map { parents[$0].live[0] ? 0 : -1 })
        var visited: [Node: (from: Node?, byte: UInt8)] = [start: (nil, 0)]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            if child.accepting[node.child] {
                let covered = parents.indices.contains { node.parents[$0] >= 0 && parents[$0].accepting[node.parents[$0]] }
                if !covered {
                    var witness: [UInt8] = []
                    var cursor = node
                    while let entry = visited[cursor], let from = entry.from {
                        witness.append(entry.byte)
                        cursor = from
                    }
                    return .counterexample(witness.reversed())
                }
            }
            for byte in representatives {
                let nextChild = step(child, node.child, byte)
                guard child.live[nextChild] else { continue }
                var nextParents = node.parents
                for i in parents.indices where nextParents[i] >= 0 {
                    let s = step(parents[i], nextParents[i], byte)
                    nextParents[i] = parents[i].live[s] ? s : -1
                }
                let next = Node(child: nextChild, parents: nextParents)
                if visited[next] == nil {
                    budget -= cost
                    guard budget > 0 else { return .undecided }
                    visited[next] = (node, byte)
                    queue.append(next)
                }
            }
        }
        return .included
    }
}
