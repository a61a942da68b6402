-- A message insert keeps its conversation's last_seq and updated_at current by itself, so an
-- append to an existing conversation is one statement (INSERT … SELECT … RETURNING) instead of
-- three: every statement is a round trip to SQLite's worker thread, and the writer pays them one
-- after another. The assignment (not an increment) makes it harmless where the upsert of the
-- slow path already moved last_seq.
CREATE TRIGGER messages_advance_conversation AFTER INSERT ON messages
BEGIN
    UPDATE conversations
    SET last_seq = NEW.seq, updated_at = NEW.sent_at
    WHERE id = NEW.conversation_id AND last_seq < NEW.seq;
END;
