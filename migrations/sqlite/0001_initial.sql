-- Accounts and sessions.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'agent', 'admin')),
    created_at    TEXT NOT NULL
);

-- Only a hash of the session token is stored: a leaked database does not leak sessions.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL REFERENCES users (username),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX sessions_by_user ON sessions (username);

-- One row per pair of users; user_lo < user_hi. last_seq is the last assigned seq.
CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    user_lo       TEXT NOT NULL,
    user_hi       TEXT NOT NULL,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL,
    UNIQUE (user_lo, user_hi)
);

-- Per member: how far the messages addressed to them have been delivered and read.
CREATE TABLE members (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    username        TEXT NOT NULL,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, username)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (username);

-- Clustered by (conversation, seq): history pages and sync are one range scan.
CREATE TABLE messages (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    sender          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    body            TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (sender, client_msg_id)
) WITHOUT ROWID;
