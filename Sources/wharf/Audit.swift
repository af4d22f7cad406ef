import ArgumentParser
import Foundation
import Logging
import WharfAudit
import WharfServer
import WharfStorage

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query, verify and export the audit log.",
        discussion: """
            Every API request is recorded in hash-chained, append-only segment files under the audit directory \
            (audit.dir, WHARF_AUDIT_DIR; <data dir>/audit by default). query asks the running server, or reads the \
            files when given --audit-dir or --data-dir and no --url; verify and export read the files, so all three \
            work on a copy. On a cluster (metadata.driver: postgres) each instance chains its records in the \
            database: query any instance, and verify and export read every instance's chain from the database.
            """,
        subcommands: [Query.self, Verify.self, Export.self]
    )

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show matching records, newest first.",
            discussion: """
                --since and --until take a UTC time (2026-11-23T02:10:56Z), a date, or an age (90m, 24h, 7d). With \
                --audit-dir, or --data-dir and no --url, the records are read from that directory (a copy will do; \
                nothing in it is changed), without a server.
                """)

        @OptionGroup var server: ServerOptions
        @Option(help: ArgumentHelp("Read this audit directory, or a copy of it, instead of asking a server.", valueName: "dir"))
        var auditDir: String?
        @Option var repository: String?
        @Option var actor: String?
        @Option(help: "pull-manifest, pull-blob, push-blob, push-manifest, delete-manifest, delete-tag, ...") var action: String?
        @Option(help: "A status (404) or a class (4xx).") var status: String?
        @Option var since: String?
        @Option var until: String?
        @Option(help: "Records per page (1-1000).") var limit = 100
        @Option(help: "Start after this cursor (printed after each page).") var cursor: String?
        @Flag(help: "Follow every page, not only the first.") var all = false
        @Flag(help: "Print JSON lines instead of a table.") var json = false

        func run() async throws {
            var parameters: [(String, String)] = [("limit", String(limit))]
            for (name, value) in [("repository", repository), ("actor", actor), ("action", action), ("status", status)] {
                if let value { parameters.append((name, value)) }
            }
            if let since { parameters.append(("since", try Self.time(since))) }
            if let until { parameters.append(("until", try Self.time(until))) }
            let fetch = try source(parameters)
            var next = cursor
            var first = true
            repeat {
                let data = try await fetch(next)
                let page = try JSONDecoder().decode(Page.self, from: data)
                if json {
                    let raw = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                    for record in raw?["records"] as? [Any] ?? [] {
                        let line = try JSONSerialization.data(
                            withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
                        print(String(decoding: line, as: UTF8.self))
                    }
                } else {
                    if first {
                        print(Self.row(["TIME", "ACTOR", "CLIENT", "ACTION", "REPOSITORY", "REFERENCE", "STATUS", "BYTES"]))
                    }
                    for record in page.records {
                        let reference = [record.tag, record.digest].compactMap { $0 }.joined(separator: "@")
                        print(
                            Self.row([
                                record.time, record.actor, record.client, record.action, record.repository ?? "-",
                                reference.isEmpty ? "-" : reference,
                                String(record.status) + (record.error.map { " \($0)" } ?? ""),
                                String(record.bytesIn + record.bytesOut),
                            ]))
                    }
                }
                first = false
                next = page.next
            } while all && next != nil
            if let next, !json { print("more: --cursor \(next)") }
        }

        /// Fetches the page after a cursor: from the server, or from the files when a directory is given.
        private func source(_ parameters: [(String, String)]) throws -> (String?) async throws -> Data {
            guard server.url == nil, auditDir != nil || server.store.dataDir != nil else {
                return { cursor in
                    var components = URLComponents()
                    components.queryItems = (parameters + (cursor.map { [("cursor", $0)] } ?? [])).map {
                        URLQueryItem(name: $0.0, value: $0.1)
                    }
                    return try await server.send("GET", "/api/v1/audit?" + (components.percentEncodedQuery ?? ""))
                }
            }
            var filter = AuditFilter()
            filter.repository = repository
            filter.actor = actor
            filter.action = action
            filter.status = status
            if status != nil, filter.statusRange == nil {
                throw ValidationError("--status takes a status (404) or a class (4xx)")
            }
            filter.since = try since.flatMap { AuditTime.parse(try Self.time($0)) }
            filter.until = try until.flatMap { AuditTime.parse(try Self.time($0)) }
            guard (1...AuditFilter.maxLimit).contains(limit) else { throw ValidationError("--limit takes 1-1000") }
            filter.limit = limit
            let reader = try AuditReader(directory: try auditDir ?? server.store.configuration().auditDirectory)
            return { cursor in
                var page = filter
                if let cursor {
                    guard let value = UInt64(cursor) else { throw ValidationError("invalid cursor '\(cursor)'") }
                    page.cursor = value
                }
                return Data(try reader.page(page).json)
            }
        }

        struct Page: Decodable {
            let records: [Record]
            let next: String?
        }

        struct Record: Decodable {
            let time, actor, client, action: String
            let repository, tag, digest, error: String?
            let status: Int
            let bytesIn, bytesOut: Int64
        }

        static func row(_ fields: [String]) -> String {
            let widths = [24, 16, 16, 16, 24, 20, 8, 0]
            return zip(fields, widths).map { field, width in
                field.count >= width ? field + " " : field + String(repeating: " ", count: width - field.count)
            }.joined()
        }

        /// A UTC time or date as given, or an age (`24h`) as the time that long ago.
        static func time(_ text: String) throws -> String {
            if AuditTime.parse(text) != nil { return text }
            let units: [Character: Int64] = ["m": 60, "h": 3600, "d": 86400]
            guard let unit = text.last.flatMap({ units[$0] }), let value = Int64(text.dropLast()) else {
                throw ValidationError("'\(text)' is neither a UTC time (2026-11-23T02:10:56Z), a date, nor an age (24h)")
            }
            return AuditTime.format(AuditTime.nowMillis() - value * unit * 1000)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that no record was edited, removed, inserted or reordered.",
            discussion: """
                Exits 0 when the log is intact, 1 when it is not (each problem is printed with where it is). On a \
                cluster (metadata.driver: postgres) and without --dir, every instance's chain in the database is checked.
                """)

        @OptionGroup var store: StoreOptions
        @Option(help: ArgumentHelp("The audit directory or a copy of it (default: the configuration's).", valueName: "dir"))
        var dir: String?

        func run() async throws {
            let configuration = try store.configuration()
            var intact = true
            if dir == nil, let database = try configuration.clusterDatabase(logger: Logger(label: "wharf")) {
                let chains = try await AuditVerifier.verify(database: database)
                try await database.close()
                for (instance, result) in chains { intact = report(result, "instance \(instance)") && intact }
                print("audit verify: \(chains.count) instances, " + (intact ? "intact" : "damaged"))
            } else {
                let result = try AuditVerifier.verify(directory: dir ?? configuration.auditDirectory)
                intact = report(result, "\(result.segments) segments")
            }
            if !intact { throw ExitCode(1) }
        }

        /// Prints what was found in one chain; returns whether it is intact.
        private func report(_ result: AuditVerification, _ chain: String) -> Bool {
            for note in result.notes { print("note: \(note)") }
            for problem in result.problems.prefix(100) { print("PROBLEM: \(problem)") }
            if result.problems.count > 100 { print("... and \(result.problems.count - 100) more problems") }
            let range = result.firstSeq.map { "records \($0)-\(result.lastSeq ?? $0)" } ?? "no records"
            print(
                "audit verify: \(chain), \(result.records) records (\(range)), "
                    + (result.isIntact ? "intact; last hash \(result.lastHash ?? "-")" : "\(result.problems.count) problems"))
            return result.isIntact
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the stored records of a time range as JSON lines, oldest first.",
            discussion: """
                Each line is the record as stored, with its sequence number and the hash of the one before. On a \
                cluster (metadata.driver: postgres) and without --dir, the records of every instance, in the order \
                they were stored.
                """)

        @OptionGroup var store: StoreOptions
        @Option(help: ArgumentHelp("The audit directory (default: the configuration's).", valueName: "dir")) var dir: String?
        @Option(help: "From this time (inclusive): a UTC time, a date or an age (24h).") var since: String?
        @Option(help: "Until this time (exclusive).") var until: String?

        func run() async throws {
            let configuration = try store.configuration()
            let low = try since.map { AuditTime.parse(try Query.time($0)) } ?? nil
            let high = try until.map { AuditTime.parse(try Query.time($0)) } ?? nil
            var buffer = Data()
            func write(_ line: ArraySlice<UInt8>) {
                buffer.append(contentsOf: line)
                buffer.append(0x0a)
                if buffer.count >= 1 << 20 {
                    FileHandle.standardOutput.write(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if dir == nil, let database = try configuration.clusterDatabase(logger: Logger(label: "wharf")) {
                try await AuditTable.forEachLine(database: database, since: low, until: high, write)
                try await database.close()
            } else {
                try AuditExport.forEachLine(directory: dir ?? configuration.auditDirectory, since: low, until: high, write)
            }
            FileHandle.standardOutput.write(buffer)
        }
    }
}
