-- What the chat service needs beyond the production schema. Every step is
-- written to apply onto tables that already hold data: columns are added
-- only if missing, duplicates are merged before a unique index needs them.

ALTER TABLE chat_rooms ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE chat_rooms ADD COLUMN IF NOT EXISTS apartment_id bigint;
ALTER TABLE chat_rooms ADD COLUMN IF NOT EXISTS owner_id uuid;

ALTER TABLE chat_rooms_participants ADD COLUMN IF NOT EXISTS joined_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE chat_rooms_participants ADD COLUMN IF NOT EXISTS is_owner boolean NOT NULL DEFAULT false;

ALTER TABLE chat_room_messages ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
-- The client's message_temp_id: a resend after a reconnect finds the
-- stored message instead of storing a second copy.
ALTER TABLE chat_room_messages ADD COLUMN IF NOT EXISTS client_temp_id text;

-- Older rows may lack owner_id: take it from the owner participant row.
UPDATE chat_rooms r SET owner_id = p.participant_id
FROM chat_rooms_participants p
WHERE r.owner_id IS NULL AND p.room_id = r.id AND p.is_owner;

-- One row per (room, participant): merge duplicates, keeping the oldest
-- row and the owner flag of any of them.
UPDATE chat_rooms_participants keep SET is_owner = true
WHERE NOT keep.is_owner AND EXISTS (
	SELECT 1 FROM chat_rooms_participants d
	WHERE d.room_id = keep.room_id AND d.participant_id = keep.participant_id
	  AND d.is_owner);
DELETE FROM chat_rooms_participants d
USING chat_rooms_participants keep
WHERE d.room_id = keep.room_id AND d.participant_id = keep.participant_id
  AND d.id > keep.id;
CREATE UNIQUE INDEX IF NOT EXISTS chat_rooms_participants_room_user_key
	ON chat_rooms_participants (room_id, participant_id);

-- GET /rooms: the rooms of a participant.
CREATE INDEX IF NOT EXISTS chat_rooms_participants_user_idx
	ON chat_rooms_participants (participant_id, room_id);

-- GET /rooms/:id history, last message per room, keyset paging.
CREATE INDEX IF NOT EXISTS chat_room_messages_room_id_idx
	ON chat_room_messages (room_id, id);

-- Idempotent resend: one message per (sender, temp id).
CREATE UNIQUE INDEX IF NOT EXISTS chat_room_messages_sender_temp_key
	ON chat_room_messages (sender_id, client_temp_id)
	WHERE client_temp_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS chat_bans (
	user_id uuid PRIMARY KEY,
	banned_at timestamptz NOT NULL DEFAULT now(),
	banned_by uuid,
	reason text
);

-- The one timestamp format of the API (SPEC.md section 2):
-- 2026-11-25T17:55:15.123456+00:00
CREATE OR REPLACE FUNCTION chat_iso(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
$$;
