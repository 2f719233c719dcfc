import NIOCore
import NIOPosix

/// A minimal HTTP/1.1 GET (with `Connection: close`) over a raw NIO socket.
public struct HTTPReply: Sendable {
    public var status: Int
    public var head: String
    public var body: String
}

public func httpGet(port: Int, path: String, headers: [String] = []) async throws -> HTTPReply {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let raw = try await channel.executeThenClose { inbound, outbound in
        let extra = headers.map { "\($0)\r\n" }.joined()
        try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(extra)Connection: close\r\n\r\n"))
        var data = ByteBuffer()
        for try await var chunk in inbound { data.writeBuffer(&chunk) }
        return String(buffer: data)
    }
    let parts = raw.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
    let head = String(parts.first ?? "")
    let statusLine = head.split(separator: "\r\n").first ?? ""
    let fields = statusLine.split(separator: " ")
    let status = fields.count > 1 ? Int(fields[1]) ?? 0 : 0
    return HTTPReply(status: status, head: head, body: parts.count > 1 ? String(parts[1]) : "")
}

