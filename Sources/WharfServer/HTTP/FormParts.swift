import Foundation
import MultipartKit
import NIOCore
import WharfCore

/// The parts of a `multipart/form-data` body, one after the other as the body streams in: `next()` gives a part's
/// field name, `content` its bytes as a stream of their own, read (or skipped by the next `next()`) before the next
/// part. Memory holds one body chunk at a time.
final class FormParts<Body: AsyncSequence> where Body.Element == ByteBuffer {
    private enum Event {
        case header(name: String, value: String)
        case data(ByteBuffer)
        case end
    }

    private var body: Body.AsyncIterator
    private let parser: MultipartParser
    private var events: [Event] = []
    private var inPart = false

    /// The boundary of a `multipart/form-data` content type, nil for any other.
    static func boundary(of contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    init(_ body: Body, boundary: String) {
        self.body = body.makeAsyncIterator()
        parser = MultipartParser(boundary: boundary)
        parser.onHeader = { [unowned self] name, value in events.append(.header(name: name, value: value)) }
        parser.onBody = { [unowned self] buffer in events.append(.data(buffer)) }
        parser.onPartComplete = { [unowned self] in events.append(.end) }
    }

    /// The field name of the next part (from its `Content-Disposition`), nil once the form has no more.
    func next() async throws -> String? {
        while inPart, let event = try await pull() {
            if case .end = event { inPart = false }
        }
        var name: String?
        var sawHeader = false
        while let event = try await peek() {
            guard case .header(let header, let value) = event else { break }
            events.removeFirst()
            sawHeader = true
            if header.lowercased() == "content-disposition" { name = Self.fieldName(value) }
        }
        guard sawHeader else {
            if events.isEmpty { return nil }
            throw Self.malformed("a part has no headers")
        }
        inPart = true
        return name ?? ""
    }

    /// The bytes of the current part.
    var content: Content { Content(form: self) }

    struct Content: AsyncSequence {
        let form: FormParts

        struct AsyncIterator: AsyncIteratorProtocol {
            let form: FormParts

            mutating func next() async throws -> ByteBuffer? {
                guard form.inPart else { return nil }
                guard let event = try await form.pull() else {
                    throw FormParts.malformed("the form ends in the middle of a part")
                }
                switch event {
                case .data(let buffer): return buffer
                case .end:
                    form.inPart = false
                    return nil
                case .header: throw FormParts.malformed("a header inside a part's content")
                }
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(form: form) }
    }

    private func peek() async throws -> Event? {
        while events.isEmpty {
            guard let chunk = try await body.next() else { return nil }
            do {
                try parser.execute(chunk)
            } catch {
                throw Self.malformed("\(error)")
            }
        }
        return events.first
    }

    private func pull() async throws -> Event? {
        guard try await peek() != nil else { return nil }
        return events.removeFirst()
    }

    /// `form-data; name="chart"; filename="x.tgz"` → `chart`.
    private static func fieldName(_ disposition: String) -> String? {
        for parameter in disposition.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "name" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    static func malformed(_ why: String) -> RegistryError {
        RegistryError(.unsupported, status: 400, "the multipart form is malformed: \(why)")
    }
}
