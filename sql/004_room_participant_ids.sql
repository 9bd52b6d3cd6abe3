-- GET /rooms lists, for each of the caller's rooms, every participant.
-- Gathering them from chat_rooms_participants per room was a third of
-- that statement's cost; chat_rooms now carries the list itself, sorted,
-- kept current by triggers on chat_rooms_participants, so that whoever
-- writes participants (this service, or another Swappart component on a
-- shared database) cannot leave it stale. Membership changes are rare next
-- to reads of the room list.

ALTER TABLE chat_rooms ADD COLUMN IF NOT EXISTS participant_ids uuid[] NOT NULL DEFAULT '{}';

-- Recompute the list of the rooms a statement touched: one UPDATE per
-- statement (transition tables), not one per participant row.
CREATE OR REPLACE FUNCTION chat_rooms_participants_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		UPDATE chat_rooms r SET participant_ids = coalesce((
			SELECT array_agg(p.participant_id ORDER BY p.participant_id)
			FROM chat_rooms_participants p WHERE p.room_id = r.id), '{}')
		WHERE r.id IN (SELECT room_id FROM changed UNION SELECT room_id FROM changed_old);
	ELSE
		UPDATE chat_rooms r SET participant_ids = coalesce((
			SELECT array_agg(p.participant_id ORDER BY p.participant_id)
			FROM chat_rooms_participants p WHERE p.room_id = r.id), '{}')
		WHERE r.id IN (SELECT room_id FROM changed);
	END IF;
	RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS chat_rooms_participants_sync_ins ON chat_rooms_participants;
CREATE TRIGGER chat_rooms_participants_sync_ins AFTER INSERT ON chat_rooms_participants
	REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION chat_rooms_participants_sync();
DROP TRIGGER IF EXISTS chat_rooms_participants_sync_del ON chat_rooms_participants;
CREATE TRIGGER chat_rooms_participants_sync_del AFTER DELETE ON chat_rooms_participants
	REFERENCING OLD TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION chat_rooms_participants_sync();
DROP TRIGGER IF EXISTS chat_rooms_participants_sync_upd ON chat_rooms_participants;
CREATE TRIGGER chat_rooms_participants_sync_upd AFTER UPDATE ON chat_rooms_participants
	REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION chat_rooms_participants_sync();

-- The rooms that exist already.
UPDATE chat_rooms r SET participant_ids = coalesce((
	SELECT array_agg(p.participant_id ORDER BY p.participant_id)
	FROM chat_rooms_participants p WHERE p.room_id = r.id), '{}');
