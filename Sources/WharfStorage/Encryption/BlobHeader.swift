import Crypto
import Foundation
import WharfCore

/// The header of an encrypted blob file: the blob's data key, wrapped by a master key, in two slots.
///
///     0    "WHARFENC"   8 bytes
///     8    version      UInt32, big-endian (1)
///     12   chunk size   UInt32, big-endian
///     16   slot 0       80 bytes: generation (UInt32) ‖ master key id (16 ASCII) ‖ nonce (12) ‖ wrapped key (32) ‖ tag (16)
///     96   slot 1
///
/// Re-wrapping (rotation, or binding an upload to its digest) writes the slot holding the older generation, so
/// the other slot stays valid whatever a crash does to the one being written; readers use the newest slot
/// that opens.
struct BlobHeader {
    static let size = 176
    static let magic = Array("WHARFENC".utf8)
    static let slotSize = 80

    struct Slot {
        var generation: UInt32
        var keyID: String
        var sealed: [UInt8]  // nonce ‖ wrapped key ‖ tag
    }

    var slots: [Slot?]

    /// A header holding `dataKey` in slot 0, wrapped by `master`.
    static func new(dataKey: SymmetricKey, binding: KeyBinding, master: MasterKey) throws -> BlobHeader {
        var header = BlobHeader(slots: [nil, nil])
        _ = try header.wrap(dataKey, binding: binding, master: master)
        return header
    }

    init(slots: [Slot?]) { self.slots = slots }

    /// The header at the start of an encrypted file.
    init(readingFrom file: FileDescriptor) throws {
        try self.init(parsing: try file.readExactly(Self.size, at: 0), path: file.path)
    }

    init(parsing bytes: [UInt8], path: String) throws {
        guard bytes.count == Self.size, Array(bytes[0..<8]) == Self.magic else {
            throw RegistryError.internalError("\(path) has no encryption header")
        }
        let version = bytes[8..<12].reduce(0) { $0 << 8 | UInt32($1) }
        let chunkSize = bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) }
        guard version == 1, chunkSize == EncryptedLayout.chunkSize else {
            throw RegistryError.internalError("\(path) has an unknown encryption format (version \(version))")
        }
        slots = (0..<2).map { index in
            let start = 16 + index * Self.slotSize
            let generation = bytes[start..<(start + 4)].reduce(0) { $0 << 8 | UInt32($1) }
            guard generation > 0 else { return nil }
            return Slot(
                generation: generation,
                keyID: String(decoding: bytes[(start + 4)..<(start + 20)], as: UTF8.self),
                sealed: Array(bytes[(start + 20)..<(start + Self.slotSize)]))
        }
    }

    var encoded: [UInt8] {
        var bytes = Self.magic
        bytes += Self.bigEndian(1) + Self.bigEndian(UInt32(EncryptedLayout.chunkSize))
        for index in 0..<2 { bytes += encoded(slot: index) }
        return bytes
    }

    func encoded(slot index: Int) -> [UInt8] {
        guard let slot = slots[index] else { return [UInt8](repeating: 0, count: Self.slotSize) }
        return Self.bigEndian(slot.generation) + Array(slot.keyID.utf8) + slot.sealed
    }

    static func offset(ofSlot index: Int) -> Int64 { Int64(16 + index * slotSize) }

    /// The data key from the newest slot that opens with `binding`, and the master key that wraps it there.
    func dataKey(binding: KeyBinding, keys: BlobEncryption) throws -> (key: SymmetricKey, masterKeyID: String) {
        var missing: String?
        for slot in slots.compactMap({ $0 }).sorted(by: { $0.generation > $1.generation }) {
            guard let master = keys.key(slot.keyID) else {
                missing = slot.keyID
                continue
            }
            if let key = try? Self.unwrap(slot, binding: binding, master: master) { return (key, slot.keyID) }
        }
        if let missing {
            throw RegistryError.internalError(
                "\(binding) is encrypted with master key \(missing), which \(keys.provider.description) does not hold")
        }
        throw RegistryError.internalError("the data key of \(binding) does not authenticate: its header is damaged")
    }

    /// The master key id of the newest slot (for status), whether or not this process holds that key.
    var newestKeyID: String? { slots.compactMap { $0 }.max(by: { $0.generation < $1.generation })?.keyID }

    /// Wraps `dataKey` with `master` into the slot holding the older generation; returns the slot's index.
    mutating func wrap(_ dataKey: SymmetricKey, binding: KeyBinding, master: MasterKey) throws -> Int {
        let generations = slots.map { $0?.generation ?? 0 }
        let index = generations[0] <= generations[1] ? 0 : 1
        let generation = (generations.max() ?? 0) + 1
        do {
            let box = try dataKey.withUnsafeBytes { raw in
                try AES.GCM.seal(
                    raw, using: master.key,
                    authenticating: Self.associatedData(binding, keyID: master.id, generation: generation))
            }
            slots[index] = Slot(generation: generation, keyID: master.id, sealed: Array(box.combined!))
        } catch {
            throw RegistryError.internalError("wrapping a data key failed: \(error)")
        }
        return index
    }

    private static func unwrap(_ slot: Slot, binding: KeyBinding, master: MasterKey) throws -> SymmetricKey {
        let sealed = slot.sealed
        let box = try AES.GCM.SealedBox(
            nonce: AES.GCM.Nonce(data: sealed[0..<12]), ciphertext: sealed[12..<44], tag: sealed[44..<60])
        let data = try AES.GCM.open(
            box, using: master.key,
            authenticating: associatedData(binding, keyID: slot.keyID, generation: slot.generation))
        return SymmetricKey(data: data)
    }

    private static func associatedData(_ binding: KeyBinding, keyID: String, generation: UInt32) -> [UInt8] {
        Array("wharf data key v1|\(binding)|\(keyID)|\(generation)".utf8)
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
}
