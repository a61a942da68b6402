-- The writer assigns seqs from memory and writes each conversation's last_seq and updated_at
-- once per batch (src/server/store/sqlite_dm_writes.rs); the per-row trigger of 0003 would only
-- repeat that work for every message.
DROP TRIGGER IF EXISTS messages_advance_conversation;
