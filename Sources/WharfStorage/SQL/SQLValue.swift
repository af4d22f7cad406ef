/// A value read from or bound to a SQL statement, whichever engine runs it.
package enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
}

/// What a statement's `?` takes.
package protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

/// What a column reads as. A value of another kind is a programming error (a query and its reader disagree), and
/// traps, as GRDB does.
package protocol SQLDecodable {
    init?(sqlValue: SQLValue)
}

package typealias SQLArguments = [(any SQLBindable)?]

extension String: SQLBindable, SQLDecodable {
    package var sqlValue: SQLValue { .text(self) }
    package init?(sqlValue: SQLValue) {
        guard case .text(let text) = sqlValue else { return nil }
        self = text
    }
}

extension Int64: SQLBindable, SQLDecodable {
    package var sqlValue: SQLValue { .integer(self) }
    package init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .integer(let value): self = value
        case .bool(let value): self = value ? 1 : 0
        default: return nil
        }
    }
}

extension Int: SQLBindable, SQLDecodable {
    package var sqlValue: SQLValue { .integer(Int64(self)) }
    package init?(sqlValue: SQLValue) {
        guard let value = Int64(sqlValue: sqlValue) else { return nil }
        self = Int(value)
    }
}

extension Double: SQLBindable, SQLDecodable {
    package var sqlValue: SQLValue { .double(self) }
    package init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .double(let value): self = value
        case .integer(let value): self = Double(value)
        default: return nil
        }
    }
}

extension Bool: SQLBindable, SQLDecodable {
    package var sqlValue: SQLValue { .bool(self) }
    /// SQLite has no booleans: 0 and 1 read as them.
    package init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .bool(let value): self = value
        case .integer(let value): self = value != 0
        default: return nil
        }
    }
}

extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    package init?(sqlValue: SQLValue) {
        if sqlValue == .null {
            self = .none
        } else if let value = Wrapped(sqlValue: sqlValue) {
            self = .some(value)
        } else {
            return nil
        }
    }
}

/// One result row, read by position or by column name.
package struct SQLRow: Sendable {
    package let columns: [String]
    package let values: [SQLValue]

    package init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    package subscript<T: SQLDecodable>(_ index: Int) -> T {
        guard let value = T(sqlValue: values[index]) else {
            preconditionFailure("column \(index) (\(columns[index])) holds \(values[index]), not \(T.self)")
        }
        return value
    }

    package subscript<T: SQLDecodable>(_ name: String) -> T {
        guard let index = columns.firstIndex(of: name) else { preconditionFailure("no column \(name) in \(columns)") }
        return self[index]
    }
}
