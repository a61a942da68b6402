-- The PostgreSQL twin of migrations/sqlite/0002_support.sql.

-- Customer support conversations. The customer is identified only by a random secret in an
-- HttpOnly cookie, stored hashed; `id` is random too, and never grants access by itself.
CREATE TABLE support_conversations (
    id                TEXT PRIMARY KEY NOT NULL,
    secret_hash       TEXT NOT NULL UNIQUE,
    customer_name     TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'assigned', 'resolved')),
    assignee          TEXT REFERENCES users (username),
    last_seq          BIGINT NOT NULL DEFAULT 0,
    agent_read_seq    BIGINT NOT NULL DEFAULT 0,
    customer_read_seq BIGINT NOT NULL DEFAULT 0,
    waiting_since     TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX support_by_status ON support_conversations (status, updated_at);
CREATE INDEX support_by_assignee ON support_conversations (assignee, status);

-- An agent's own choice to take automatic assignments or not; no row means available.
CREATE TABLE agent_availability (
    username  TEXT PRIMARY KEY NOT NULL REFERENCES users (username),
    available BOOLEAN NOT NULL
);

-- author: 'customer' for the customer's messages, the agent's username for agents'. Resends
-- are recognised per sender: (role, author) together, so an agent named "customer" is no clash.
CREATE TABLE support_messages (
    conversation_id TEXT NOT NULL REFERENCES support_conversations (id),
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    from_role       TEXT NOT NULL CHECK (from_role IN ('customer', 'agent')),
    author          TEXT NOT NULL,
    body            TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    CONSTRAINT support_messages_idempotency
        UNIQUE (conversation_id, from_role, author, client_msg_id)
);
