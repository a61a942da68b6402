-- Direct-message batches become durable in the message log, files next to the database
-- (src/server/store/sqlite_log.rs), and are copied into these tables afterwards, many batches
-- per transaction (src/server/store/sqlite_index.rs). `applied` is the newest log record the
-- tables hold; it is written in the same transaction as that record's rows, so a restart
-- knows exactly which records to copy again.
CREATE TABLE message_log (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    applied INTEGER NOT NULL
);
INSERT INTO message_log (id, applied) VALUES (1, 0);
