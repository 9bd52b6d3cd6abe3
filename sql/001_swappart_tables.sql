-- The three tables of the Swappart production schema, created only where
-- they do not exist yet, so that a deployment can point at an existing
-- Swappart database. Columns the production tables may lack are added by
-- 002; nothing here changes an existing table.

CREATE TABLE IF NOT EXISTS chat_rooms (
	id bigserial PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	apartment_id bigint,
	owner_id uuid
);

CREATE TABLE IF NOT EXISTS chat_rooms_participants (
	id bigserial PRIMARY KEY,
	joined_at timestamptz NOT NULL DEFAULT now(),
	participant_id uuid NOT NULL,
	is_owner boolean NOT NULL DEFAULT false,
	room_id bigint NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS chat_room_messages (
	id bigserial PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	room_id bigint NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
	message text NOT NULL,
	sender_id uuid NOT NULL
);
