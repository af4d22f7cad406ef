import Foundation
import WharfAudit
import WharfP2P
import WharfReplication

/// The audit log, filtered, a page at a time, with the chain's verification.
package struct AuditView: Sendable {
    package struct Row: Sendable, Equatable {
        package let time: String
        package let actor: String
        package let action: String
        package let repository: String
        package let reference: String
        package let status: String
        package let client: String
        package let userAgent: String
        package let detail: String
    }

    package struct Chain: Sendable, Equatable {
        package let at: String
        package let records: Int
        package let intact: Bool
        package let problems: [String]
    }

    let base: String
    package let since: String
    package let until: String
    package let actor: String
    package let repository: String
    package let action: String
    package let status: String
    package let actions: [String]
    package let rows: [Row]
    package let next: String?
    package let exportHref: String
    package let chain: Chain?

    /// `query`: the filter as the form sent it (field name → value), which the links carry on.
    package init(page: AuditPage, query: [String: String], chain: AuditChainCheck.Result?, base: String) {
        self.base = base
        since = query["since"] ?? ""
        until = query["until"] ?? ""
        actor = query["actor"] ?? ""
        repository = query["repository"] ?? ""
        action = query["action"] ?? ""
        status = query["status"] ?? ""
        actions = AuditAction.allCases.map(\.rawValue)
        rows = page.lines.map(Self.row)
        let filter = query.filter { !$0.value.isEmpty && $0.key != "cursor" }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(ConsoleQuery.encode($0.value))" }
        next = page.next.map { "\(base)/audit?" + (filter + ["cursor=\($0)"]).joined(separator: "&") }
        exportHref = "\(base)/audit/export" + (filter.isEmpty ? "" : "?" + filter.joined(separator: "&"))
        self.chain = chain.map {
            Chain(at: ConsoleFormat.time($0.at), records: $0.records, intact: $0.intact, problems: $0.problems)
        }
    }

    /// A stored record as a row; a line that is not a JSON object shows as its text.
    static func row(_ line: [UInt8]) -> Row {
        guard let record = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            let text = String(decoding: line, as: UTF8.self)
            return Row(
                time: "", actor: "", action: "", repository: "", reference: "", status: "", client: "", userAgent: "",
                detail: text)
        }
        func text(_ key: String) -> String {
            switch record[key] {
            case let string as String: string
            case let number as NSNumber: number.stringValue
            default: ""
            }
        }
        let tag = text("tag")
        let digest = text("digest")
        let error = text("error")
        return Row(
            time: text("time"), actor: text("actor"), action: text("action"), repository: text("repository"),
            reference: [tag, digest.isEmpty ? "" : ConsoleFormat.shortDigest(digest)].filter { !$0.isEmpty }
                .joined(separator: " "),
            status: error.isEmpty ? text("status") : "\(text("status")) \(error)", client: text("client"),
            userAgent: text("userAgent"), detail: text("detail"))
    }
}

/// The replication rules with their lag, queue, failures and pool.
package struct ReplicationView: Sendable {
    package struct Rule: Sendable, Equatable {
        package struct Failure: Sendable, Equatable {
            package let repository: String
            package let reference: String
            package let error: String
            package let attempts: Int
            package let at: String
        }

        package let name: String
        package let direction: String
        package let remote: String
        package let enabled: Bool
        package let lag: String
        package let queued: Int
        package let running: Int
        package let failed: Int
        package let done: Int
        package let copied: String
        package let lastSuccess: String
        package let workers: Int
        package let failures: [Failure]
    }

    let base: String
    let csrf: String
    package let rules: [Rule]
    package let poolSize: Int
    package let poolMin: Int
    package let poolMax: Int
    /// What the last action did, shown once.
    package let message: String?

    package init(statuses: [RuleStatus], pool: PoolStatus, csrf: String, message: String?, base: String) {
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.1f s", $0) } ?? "–" }
        self.base = base
        self.csrf = csrf
        self.message = message
        poolSize = pool.size
        poolMin = pool.min
        poolMax = pool.max
        rules = statuses.map { status in
            Rule(
                name: status.rule, direction: status.direction, remote: status.remote, enabled: status.enabled,
                lag: "\(seconds(status.lagP50)) / \(seconds(status.lagP99))", queued: status.queued, running: status.running,
                failed: status.failed, done: status.done, copied: ConsoleFormat.bytes(status.bytesCopied),
                lastSuccess: status.lastSuccess.map(ConsoleFormat.time) ?? "never", workers: status.workers,
                failures: status.failures.map {
                    .init(
                        repository: $0.repository, reference: $0.reference, error: $0.error, attempts: $0.attempts,
                        at: ConsoleFormat.time($0.at))
                })
        }
    }
}

/// The tracker's swarms, and where the agents' bytes came from.
package struct P2PView: Sendable {
    package struct Swarm: Sendable, Equatable {
        package let digest: String
        package let short: String
        package let pieces: Int
        package let peers: Int
        package let seeds: Int
        package let untrusted: Int
        package let originBytes: String
        package let peerBytes: String
    }

    let base: String
    package let swarms: [Swarm]
    package let originBytes: String
    package let peerBytes: String
    package let peerShare: String

    package init(_ summaries: [SwarmSummary], base: String) {
        self.base = base
        swarms = summaries.map {
            Swarm(
                digest: $0.digest, short: ConsoleFormat.shortDigest($0.digest), pieces: $0.pieces, peers: $0.peers,
                seeds: $0.seeds, untrusted: $0.untrusted, originBytes: ConsoleFormat.bytes($0.originBytes),
                peerBytes: ConsoleFormat.bytes($0.peerBytes))
        }
        let origin = summaries.reduce(Int64(0)) { $0 + $1.originBytes }
        let peers = summaries.reduce(Int64(0)) { $0 + $1.peerBytes }
        originBytes = ConsoleFormat.bytes(origin)
        peerBytes = ConsoleFormat.bytes(peers)
        peerShare = ConsoleFormat.percent(peers, of: origin + peers)
    }
}
