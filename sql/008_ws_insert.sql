-- The websocket tier's write, third form (ws-daemon/store.c, issue 12).
-- chat_ws_store (006) stays, unchanged, for daemons of earlier builds: the
-- tiers restart one at a time, and a daemon must never find its function
-- gone under it.
--
-- The same guarantees as 006 (rooms locked in id order, SKIP LOCKED;
-- membership and bans checked in the statement; a (sender, temp id) pair
-- stored at most once; the room's previous message as the daemons know
-- it), for two measured costs less (docs/bench-ws.md, sixth session;
-- pgbench, 1,000-row batches: 34,000-37,000 rows/s for 006, 44,600-46,500
-- for this form, 55,000-59,000 for a plain INSERT):
--
-- * No window over the stored rows. 006 joined them back to each room's
--   previous message and numbered them with lag(); here the previous
--   message comes once per room, and the daemon chains the room's stored
--   rows itself (they come in input order, which is id order: one INSERT
--   draws its ids in the order of its ORDER BY, and the room stays locked
--   until the commit).
-- * ON CONFLICT only when asked. Speculative insertion probes the unique
--   index once more per row and takes a speculative lock. Most batches
--   hold no resend, so the daemon asks for the plain INSERT
--   (p_resends = false); a resend or a temp id repeated in the batch then
--   fails the statement with unique_violation (23505), nothing is stored,
--   and the daemon sends the same batch again with p_resends = true
--   (and keeps doing so for a while: resends come in bursts, after
--   reconnections).
--
-- Rows, in this order:
--   kind 1  one per room this call locked: room_id, and in id the room's
--           newest message before this call when a daemon stored it (it
--           has a client_temp_id), else NULL (none, or a foreign writer's:
--           no daemon announces those, so nobody may wait for one);
--   kind 0  one per stored message, in input order: id, sender_id,
--           client_temp_id, room_id, created_at;
--   kind 2  one per room of the batch that another transaction held:
--           room_id. Its messages were not stored; the daemon sends them
--           again, ahead of newer ones, so the room's order is kept.
-- Rows not stored for another reason (not a participant, no such room,
-- banned, stored before) have no row; chat_ws_lookup (006) says why.
-- The rows of a chat_ws_insert batch that may be stored, numbered from 1
-- in input order: their room is one the call locked (p_locked), their
-- sender a participant of it and not banned. A plain SQL function: the
-- planner inlines it into chat_ws_insert's INSERT.
CREATE OR REPLACE FUNCTION chat_ws_insert_rows(p_sender uuid[], p_room bigint[],
					       p_msg text[], p_temp text[], p_locked bigint[])
RETURNS TABLE (n bigint, room bigint, msg text, sender uuid, temp text)
LANGUAGE sql STABLE AS $$
	SELECT t.n, t.room, t.msg, t.sender, t.temp
	FROM unnest(p_sender, p_room, p_msg, p_temp)
		WITH ORDINALITY AS t(sender, room, msg, temp, n)
	-- a set, not "= ANY (p_locked)": hashed, not a scan per row
	WHERE t.room IN (SELECT unnest(p_locked))
	  AND EXISTS (SELECT 1 FROM chat_rooms_participants p
		      WHERE p.room_id = t.room AND p.participant_id = t.sender)
	  AND NOT EXISTS (SELECT 1 FROM chat_bans b WHERE b.user_id = t.sender)
$$;

CREATE OR REPLACE FUNCTION chat_ws_insert(p_sender uuid[], p_room bigint[],
					  p_msg text[], p_temp text[], p_resends boolean)
RETURNS TABLE (kind int, id bigint, sender_id uuid, client_temp_id text,
	       room_id bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	locked bigint[];
BEGIN
	SELECT coalesce(array_agg(l.id), '{}') INTO locked FROM (
		SELECT r.id FROM chat_rooms r WHERE r.id = ANY (p_room)
		ORDER BY r.id FOR NO KEY UPDATE SKIP LOCKED) l;

	-- Each locked room's newest message, one step back on the (room_id, id)
	-- index. A statement of its own, before the INSERT: its snapshot is
	-- taken after the locks, so every earlier commit to these rooms is in it.
	RETURN QUERY
	SELECT 1, (SELECT CASE WHEN x.client_temp_id IS NOT NULL THEN x.id END
		   FROM chat_room_messages x WHERE x.room_id = l.room
		   ORDER BY x.room_id DESC, x.id DESC LIMIT 1),
	       NULL::uuid, NULL::text, l.room, NULL::timestamptz
	FROM unnest(locked) AS l(room);

	-- The same INSERT twice: ON CONFLICT cannot be a parameter.
	IF p_resends THEN
		RETURN QUERY
		INSERT INTO chat_room_messages AS m
			(room_id, message, sender_id, client_temp_id)
		SELECT r.room, r.msg, r.sender, r.temp
		FROM chat_ws_insert_rows(p_sender, p_room, p_msg, p_temp, locked) r ORDER BY r.n
		ON CONFLICT (sender_id, client_temp_id) WHERE client_temp_id IS NOT NULL
		DO NOTHING
		RETURNING 0, m.id, m.sender_id, m.client_temp_id, m.room_id, m.created_at;
	ELSE
		RETURN QUERY
		INSERT INTO chat_room_messages AS m
			(room_id, message, sender_id, client_temp_id)
		SELECT r.room, r.msg, r.sender, r.temp
		FROM chat_ws_insert_rows(p_sender, p_room, p_msg, p_temp, locked) r ORDER BY r.n
		RETURNING 0, m.id, m.sender_id, m.client_temp_id, m.room_id, m.created_at;
	END IF;

	-- the rooms that exist but were held by another transaction
	RETURN QUERY
	SELECT 2, NULL::bigint, NULL::uuid, NULL::text, r.id, NULL::timestamptz
	FROM chat_rooms r WHERE r.id = ANY (p_room) AND r.id NOT IN (SELECT unnest(locked));
END
$$;
