-- A message's id (a random UUID, made by the server) is never looked up: messages are read by
-- (conversation_id, seq) and resends are found by (sender, client_msg_id). Its UNIQUE index
-- cost a random B-tree insert per message, about a fifth of the indexer's time per message on
-- the benchmark's write pattern, and a page of the WAL per insert. The table is rebuilt without
-- it (SQLite cannot drop a constraint in place), keeping every row and its rowid, so commit order
-- is kept too.
CREATE TABLE messages_without_id_index (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    sender          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    body            TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender, client_msg_id)
);

INSERT INTO messages_without_id_index
    (rowid, conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at)
SELECT rowid, conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at
FROM messages
ORDER BY rowid;

DROP TABLE messages;
ALTER TABLE messages_without_id_index RENAME TO messages;
