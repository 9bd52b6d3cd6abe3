-- The websocket tier's write, second form (ws-daemon/store.c), replacing
-- 003's chat_ws_store. Three changes (issues 10 and 12):
--
-- Rooms held elsewhere. 003 locked every room of the batch, waiting; one
-- room held for 12 s (a long REST transaction, an operator's session)
-- stalled the whole batch until the statement timeout. Now the rooms it
-- can lock at once are locked (still in id order) and their messages
-- stored; a room held by another transaction comes back as a row with id
-- NULL, and the daemon tries its messages again, ahead of newer ones, so
-- the room's order is kept.
--
-- Less bookkeeping. Measured with EXPLAIN (ANALYZE, BUFFERS) on 1,000-row
-- batches (docs/ws-daemon.md, "Performance"), 003 spent as much again as
-- its INSERT on the work around it: aggregating what the INSERT returned
-- into arrays, joining every input row back to them, a window over all
-- rows and to_char() for every created_at. This form returns only what
-- the INSERT returned; the daemon matches rows to its jobs itself (the
-- rows come in input order: one INSERT draws ids in the order of its
-- ORDER BY) and formats created_at in C (chrono_iso_from_pg). The rare
-- rows that were not stored (a resend, a non-participant, a banned
-- sender) are answered by chat_ws_lookup, a second, read-only call made
-- only when there are any.
--
-- Foreign writers. prev_id is the id of the room's previous message as the
-- daemons know it: the previous one stored through chat_ws_store (a message
-- with a client_temp_id). A message inserted by anything else (another
-- service, a script) is never published live, so a daemon that waited for
-- it as a predecessor stalled the room for its whole gap timeout (500 ms).
-- When the room's newest message before the batch is such a foreign one,
-- prev_id is NULL: the daemons deliver the message without waiting.

DROP FUNCTION IF EXISTS chat_ws_store(uuid[], bigint[], text[], text[]);

-- Store the batch. The rooms are locked first (FOR NO KEY UPDATE, in id
-- order so two daemons never deadlock): a room's messages are then numbered
-- in commit order, which is what lets every daemon deliver them in id order
-- (prev_id chains them). Rows of senders that are not participants of the
-- room (a participant row also proves the room exists), banned senders and
-- (sender, temp id) pairs stored before are skipped, so nothing fails the
-- batch. One row per stored message, in input order; then one row per room
-- that another transaction held (id NULL, room_id set).
CREATE FUNCTION chat_ws_store(p_sender uuid[], p_room bigint[],
			      p_msg text[], p_temp text[])
RETURNS TABLE (id bigint, sender_id uuid, client_temp_id text, room_id bigint,
	       created_at timestamptz, prev_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	locked bigint[];
BEGIN
	-- The rooms this call may write to: those it can lock now (in id
	-- order; SKIP LOCKED never waits). The messages of a room held by another transaction are not stored;
	-- the room comes back as a row with id NULL (after the stored ones)
	-- and the daemon tries them again, ahead of newer ones.
	SELECT coalesce(array_agg(l.id), '{}') INTO locked FROM (
		SELECT r.id FROM chat_rooms r WHERE r.id = ANY (p_room)
		ORDER BY r.id FOR NO KEY UPDATE SKIP LOCKED) l;

	-- One statement, one snapshot: "base" reads the rooms as they were
	-- before this INSERT (taken after the locks, so every earlier commit
	-- to these rooms is in it).
	RETURN QUERY
	WITH t AS MATERIALIZED (
		SELECT * FROM unnest(p_sender, p_room, p_msg, p_temp)
			WITH ORDINALITY AS t(sender, room, msg, temp, n)
	), base AS (
		-- the room's newest message, one step back on the (room_id, id)
		-- index; NULL when there is none or a foreign writer stored it
		SELECT b.room,
		       (SELECT CASE WHEN x.client_temp_id IS NOT NULL THEN x.id END
			FROM chat_room_messages x WHERE x.room_id = b.room
			ORDER BY x.room_id DESC, x.id DESC LIMIT 1) AS last
		FROM (SELECT DISTINCT t.room FROM t) b
	), ins AS (
		INSERT INTO chat_room_messages AS m
			(room_id, message, sender_id, client_temp_id)
		SELECT t.room, t.msg, t.sender, t.temp FROM t
		-- a set, not "= ANY (locked)": hashed, not a scan per row
		WHERE t.room IN (SELECT unnest(locked))
		  AND EXISTS (SELECT 1 FROM chat_rooms_participants p
			      WHERE p.room_id = t.room AND p.participant_id = t.sender)
		  AND NOT EXISTS (SELECT 1 FROM chat_bans b WHERE b.user_id = t.sender)
		ORDER BY t.n
		ON CONFLICT (sender_id, client_temp_id) WHERE client_temp_id IS NOT NULL
		DO NOTHING
		RETURNING m.id, m.sender_id, m.client_temp_id, m.room_id, m.created_at
	)
	SELECT ins.id, ins.sender_id, ins.client_temp_id, ins.room_id, ins.created_at,
	       coalesce(lag(ins.id) OVER (PARTITION BY ins.room_id ORDER BY ins.id),
			base.last)
	FROM ins JOIN base ON base.room = ins.room_id
	ORDER BY ins.id;

	-- the rooms that exist but were held by another transaction
	RETURN QUERY
	SELECT NULL::bigint, NULL::uuid, NULL::text, r.id, NULL::timestamptz, NULL::bigint
	FROM chat_rooms r WHERE r.id = ANY (p_room) AND r.id <> ALL (locked);
END
$$;

-- For the rows chat_ws_store did not store: per input row (ord, from 1)
-- status 1 with the stored message of that (sender, temp id) -- stored
-- earlier, by another daemon, or by an earlier row of the same batch --,
-- else 3 when the sender is banned, else 2 (not a participant, or no such
-- room).
CREATE OR REPLACE FUNCTION chat_ws_lookup(p_sender uuid[], p_temp text[])
RETURNS TABLE (ord int, status int, id bigint, room_id bigint, created_at timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT t.n::int,
	       CASE WHEN m.id IS NOT NULL THEN 1
		    WHEN EXISTS (SELECT 1 FROM chat_bans b WHERE b.user_id = t.sender) THEN 3
		    ELSE 2 END,
	       m.id, m.room_id, m.created_at
	FROM unnest(p_sender, p_temp) WITH ORDINALITY AS t(sender, temp, n)
	LEFT JOIN chat_room_messages m
		ON m.sender_id = t.sender AND m.client_temp_id = t.temp
	ORDER BY t.n
$$;
