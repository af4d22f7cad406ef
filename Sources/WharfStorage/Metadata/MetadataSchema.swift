import Foundation
import GRDB

/// The metadata schema, as migrations so that later versions can extend it in place.
enum MetadataSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE repositories (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        created_at REAL NOT NULL
                    );
                    -- Every committed blob, once, whatever the number of repositories using it.
                    CREATE TABLE blobs (
                        digest TEXT PRIMARY KEY,
                        size INTEGER NOT NULL,
                        created_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    -- Which repository may read which blob: pushed, mounted, or a manifest of its own.
                    CREATE TABLE repository_blobs (
                        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                        digest TEXT NOT NULL REFERENCES blobs(digest),
                        created_at REAL NOT NULL,
                        PRIMARY KEY (repository_id, digest)
                    ) WITHOUT ROWID;
                    CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
                    CREATE TABLE manifests (
                        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                        digest TEXT NOT NULL REFERENCES blobs(digest),
                        media_type TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        artifact_type TEXT,
                        subject TEXT,
                        annotations TEXT,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (repository_id, digest)
                    ) WITHOUT ROWID;
                    CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
                    -- What each manifest points to (layers, config, child manifests): for garbage collection.
                    CREATE TABLE manifest_references (
                        repository_id INTEGER NOT NULL,
                        manifest_digest TEXT NOT NULL,
                        referenced_digest TEXT NOT NULL,
                        PRIMARY KEY (repository_id, manifest_digest, referenced_digest),
                        FOREIGN KEY (repository_id, manifest_digest)
                            REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
                    ) WITHOUT ROWID;
                    CREATE INDEX manifest_references_target ON manifest_references(referenced_digest);
                    CREATE TABLE tags (
                        repository_id INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        digest TEXT NOT NULL,
                        updated_at REAL NOT NULL,
                        PRIMARY KEY (repository_id, name),
                        FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
                    ) WITHOUT ROWID;
                    CREATE INDEX tags_digest ON tags(repository_id, digest);
                    CREATE TABLE uploads (
                        id TEXT PRIMARY KEY,
                        repository TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: garbage collection") { db in
            try db.execute(sql: "CREATE INDEX manifests_digest ON manifests(digest)")
        }
        migrator.registerMigration("v3: encryption") { db in
            // Upload files written encrypted say so; manifest annotations are content and stay in the (encrypted)
            // manifest blobs only.
            try db.execute(
                sql: """
                    ALTER TABLE uploads ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
                    UPDATE manifests SET annotations = NULL;
                    -- Every master key that has wrapped data keys here and is not retired: starting without one
                    -- of them is refused (a wrong or missing key).
                    CREATE TABLE master_keys (
                        id TEXT PRIMARY KEY,
                        added_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v4: replication") { db in
            // The outbox: a change and the tasks it queues commit together, so no event is lost to a crash.
            try db.execute(
                sql: """
                    CREATE TABLE replication_tasks (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        rule TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        repository TEXT NOT NULL,
                        reference TEXT NOT NULL,
                        digest TEXT,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        not_before REAL NOT NULL,
                        lease_until REAL,
                        error TEXT,
                        bytes INTEGER NOT NULL DEFAULT 0,
                        resume TEXT,
                        source_time REAL NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX replication_tasks_queue ON replication_tasks(state, not_before);
                    CREATE INDEX replication_tasks_leases ON replication_tasks(state, lease_until);
                    CREATE INDEX replication_tasks_rule ON replication_tasks(rule, state, id);
                    -- At most one queued task per rule and reference: a change queues in O(log n), however long the
                    -- queue.
                    CREATE UNIQUE INDEX replication_tasks_pending ON replication_tasks(rule, kind, repository, reference)
                        WHERE state = 'queued';
                    -- One row: this store's identity, which a replicated copy names as its origin.
                    CREATE TABLE instance (
                        id TEXT NOT NULL
                    );
                    """)
            try db.execute(sql: "INSERT INTO instance(id) VALUES (?)", arguments: [UUID().uuidString.lowercased()])
        }
        migrator.registerMigration("v5: replication rules") { db in
            // Rules made through the API; those of the configuration file are not stored. The password is sealed.
            try db.execute(
                sql: """
                    CREATE TABLE replication_rules (
                        name TEXT PRIMARY KEY,
                        definition TEXT NOT NULL,
                        secret TEXT,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v6: replication queue by rule") { db in
            // Due tasks are looked up rule by rule, so that a rule whose remote is down (its tasks held back) costs
            // the lookups of the others nothing, however long its backlog.
            try db.execute(
                sql: """
                    DROP INDEX replication_tasks_queue;
                    CREATE INDEX replication_tasks_queue ON replication_tasks(state, rule, not_before);
                    """)
        }
        migrator.registerMigration("v7: replication outbox") { db in
            // What a change queues, written in the change's own transaction: a table of its own, with no index but
            // its key and no AUTOINCREMENT, so that a push writes one more page rather than five. Workers move its
            // rows into replication_tasks.
            try db.execute(
                sql: """
                    CREATE TABLE replication_outbox (
                        rule TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        repository TEXT NOT NULL,
                        reference TEXT NOT NULL,
                        digest TEXT,
                        source_time REAL NOT NULL,
                        PRIMARY KEY (rule, kind, repository, reference)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v8: p2p piece lists") { db in
            // A blob's piece list per piece size (JSON), computed on first request; dropped with the blob.
            try db.execute(
                sql: """
                    CREATE TABLE p2p_piece_lists (
                        digest TEXT NOT NULL,
                        piece_size INTEGER NOT NULL,
                        list TEXT NOT NULL,
                        PRIMARY KEY (digest, piece_size)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v9: helm charts") { db in
            // A chart version per pushed chart manifest, for index.yaml; it goes with its manifest.
            try db.execute(
                sql: """
                    CREATE TABLE charts (
                        repository_id INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        version TEXT NOT NULL,
                        manifest_digest TEXT NOT NULL,
                        chart_digest TEXT NOT NULL,
                        chart_size INTEGER NOT NULL,
                        provenance_digest TEXT,
                        metadata TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (repository_id, name, version),
                        FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest)
                            ON DELETE CASCADE
                    ) WITHOUT ROWID;
                    CREATE INDEX charts_manifest ON charts(repository_id, manifest_digest);
                    """)
        }
        migrator.registerMigration("v10: upload sessions on object storage") { db in
            // An S3 session's state (size, running hash, parts) lives in its row, so that any instance carries it
            // on; `claimed_until` is the lease of the request writing to it, whichever instance that is.
            try db.execute(
                sql: """
                    ALTER TABLE uploads ADD COLUMN state TEXT;
                    ALTER TABLE uploads ADD COLUMN claimed_until REAL;
                    """)
        }
        migrator.registerMigration("v11: console sessions") { db in
            // The web console's sign-ins, by the SHA-256 of the cookie's token.
            try db.execute(
                sql: """
                    CREATE TABLE console_sessions (
                        token_hash TEXT PRIMARY KEY,
                        identity TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        csrf TEXT NOT NULL,
                        expires_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        return migrator
    }
}
