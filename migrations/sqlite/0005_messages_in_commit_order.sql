-- Messages are stored in commit order (an ordinary rowid table) instead of clustered by
-- (conversation_id, seq) (WITHOUT ROWID).
--
-- A commit writes every page it dirtied to the WAL. Clustered by conversation, a batch of a few
-- hundred messages spread over a hundred conversations dirtied a page of the table per
-- conversation, whole rows and all; in commit order the rows of a batch fill a few pages at the
-- end of the table, and only the small entries of the (conversation_id, seq) index land per
-- conversation. Measured on the benchmark's write pattern (400-message batches over 100
-- conversations, synchronous=FULL): about 40 % less commit time per message. Reads by
-- conversation go through that index (a page of history is one index range and a row lookup
-- per message), and counting unread messages reads the index alone.
CREATE TABLE messages_in_commit_order (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    sender          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    body            TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender, client_msg_id)
);

INSERT INTO messages_in_commit_order
    (conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at)
SELECT conversation_id, seq, id, sender, recipient, body, client_msg_id, sent_at
FROM messages
ORDER BY sent_at, conversation_id, seq;

DROP TABLE messages;
ALTER TABLE messages_in_commit_order RENAME TO messages;
