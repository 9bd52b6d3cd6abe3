-- chat_ws_store (sql/003_ws_store.sql) no longer waits for a room that
-- another transaction holds (issue 10). It used to lock every room of the
-- batch, waiting; one room held for 12 s (a long REST transaction, an
-- operator's session) stalled the whole batch, every room's messages in
-- it, until the statement timeout, and the daemon then retried message by
-- message, each waiting again. Now the rooms it can lock at once are
-- locked (still in id order) and their messages stored; the messages of a
-- room held elsewhere come back with the new status
--   status 4  not stored: the room is locked by another transaction;
--             try again (ws-daemon/store.c defers them to its next batch,
--             ahead of newer messages, so a room's order is kept)
-- A banned sender is still answered 3 and a room that does not exist 2.

CREATE OR REPLACE FUNCTION chat_ws_store(p_sender uuid[], p_room bigint[],
					 p_msg text[], p_temp text[])
RETURNS TABLE (ord int, status int, id bigint, room_id bigint,
	       created_at text, prev_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	new_ids bigint[];
	new_senders uuid[];
	new_temps text[];
	new_rooms bigint[];
	new_ats timestamptz[];
	locked bigint[];
	busy bigint[];
BEGIN
	-- The rooms this statement may write to: those it can lock now
	-- (SKIP LOCKED never waits). busy: rooms that exist but are held by
	-- another transaction; their messages are answered 4 and not stored.
	SELECT coalesce(array_agg(l.id), '{}') INTO locked FROM (
		SELECT r.id FROM chat_rooms r WHERE r.id = ANY (p_room)
		ORDER BY r.id FOR NO KEY UPDATE SKIP LOCKED) l;
	SELECT coalesce(array_agg(r.id), '{}') INTO busy FROM chat_rooms r
		WHERE r.id = ANY (p_room) AND r.id <> ALL (locked);

	WITH ins AS (
		INSERT INTO chat_room_messages AS m
			(room_id, message, sender_id, client_temp_id)
		SELECT t.room, t.msg, t.sender, t.temp
		FROM unnest(p_sender, p_room, p_msg, p_temp)
			WITH ORDINALITY AS t(sender, room, msg, temp, n)
		-- a participant row also proves the room exists (cascade), so
		-- the foreign key never fails the batch
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
	SELECT coalesce(array_agg(ins.id), '{}'), coalesce(array_agg(ins.sender_id), '{}'),
	       coalesce(array_agg(ins.client_temp_id), '{}'),
	       coalesce(array_agg(ins.room_id), '{}'), coalesce(array_agg(ins.created_at), '{}')
	INTO new_ids, new_senders, new_temps, new_rooms, new_ats FROM ins;

	-- Per input row: the message stored for its (sender, temp id), taken
	-- from what the INSERT returned ("fresh" for the first row of each
	-- temp id), else looked up (stored before: by an earlier batch, or by
	-- another daemon whose commit this statement's snapshot now sees).
	-- A fresh row's prev_id is the previous fresh id of its room, or for
	-- the room's first fresh row the room's newest id before the batch.
	RETURN QUERY
	WITH t AS (
		SELECT u.sender, u.temp, u.room, u.n::int AS n,
		       row_number() OVER (PARTITION BY u.sender, u.temp ORDER BY u.n) AS k
		FROM unnest(p_sender, p_temp, p_room) WITH ORDINALITY AS u(sender, temp, room, n)
	), f AS MATERIALIZED (
		SELECT * FROM unnest(new_ids, new_senders, new_temps, new_rooms, new_ats)
			AS f(id, sender, temp, room, at)
	), j AS (
		SELECT t.n, t.k, t.sender, t.room AS troom, f.id AS fid, f.room AS froom, f.at AS fat,
		       CASE WHEN f.id IS NULL THEN
				(SELECT m FROM chat_room_messages m
				 WHERE m.sender_id = t.sender AND m.client_temp_id = t.temp)
		       END AS old
		FROM t LEFT JOIN f ON f.sender = t.sender AND f.temp = t.temp
	), h AS (
		SELECT j.n, j.sender, j.troom, (j.k = 1 AND j.fid IS NOT NULL) AS fresh,
		       coalesce(j.fid, (j.old).id) AS id,
		       coalesce(j.froom, (j.old).room_id) AS room_id,
		       coalesce(j.fat, (j.old).created_at) AS created_at
		FROM j
	)
	SELECT h.n,
	       CASE WHEN h.id IS NULL THEN
			CASE WHEN EXISTS (SELECT 1 FROM chat_bans b WHERE b.user_id = h.sender)
			     THEN 3
			     WHEN h.troom = ANY (busy) THEN 4
			     ELSE 2 END
		    WHEN h.fresh THEN 0
		    ELSE 1 END,
	       h.id, h.room_id, chat_iso(h.created_at),
	       CASE WHEN h.fresh THEN
			coalesce(lag(h.id) OVER (PARTITION BY h.room_id, h.fresh ORDER BY h.id),
				 -- the room's newest id before the batch: a row
				 -- comparison on the (room_id, id) index, one step
				 -- back from this message (the primary key cannot
				 -- serve it, so the planner cannot pick a filtered
				 -- walk of the whole table instead)
				 (SELECT CASE WHEN x.room_id = h.room_id THEN x.id END
				  FROM chat_room_messages x
				  WHERE (x.room_id, x.id) < (h.room_id, h.id)
				  ORDER BY x.room_id DESC, x.id DESC LIMIT 1))
		    END
	FROM h
	ORDER BY h.n;

END
$$;
