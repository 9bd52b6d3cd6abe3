-- Rate limits of the REST tier (README "Limits", rest-fcgi/quota.h):
-- rooms a user creates, users a user adds to rooms, per window. They are
-- counted here, not in a worker's memory, because the REST tier is several
-- processes, possibly on several hosts, and a limit must hold across all.
--
-- One row per (user, kind), overwritten: the table never holds more than
-- two rows per user who ever created a room or added someone. A window
-- starts at the first request counted after the previous window ended
-- and lasts p_window_s seconds.

CREATE TABLE IF NOT EXISTS chat_rate_limits (
	user_id uuid NOT NULL,
	kind text NOT NULL,
	window_start timestamptz NOT NULL,
	used int NOT NULL,
	PRIMARY KEY (user_id, kind)
);

-- Take p_n[i] units of kind p_kinds[i] (at most p_max[i] per window) for
-- p_user, all or nothing, inside the caller's transaction. No row: every
-- kind was counted. One row: the first kind that does not fit, with what
-- its window holds already, its maximum and the seconds until the window
-- ends (at least 1); then nothing was counted. The counter rows stay
-- locked until the caller's transaction ends, so two requests of one
-- user, on any worker, are counted one after the other; they are locked
-- in kind order, so two such requests never deadlock.
CREATE OR REPLACE FUNCTION chat_limit_take(p_user uuid, p_kinds text[], p_n int[],
					   p_max int[], p_window_s int)
RETURNS TABLE (r_kind text, r_used int, r_max int, r_retry int)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	win interval := make_interval(secs => p_window_s);
	used_now int;
BEGIN
	INSERT INTO chat_rate_limits AS l (user_id, kind, window_start, used)
	SELECT p_user, a.k, now(), 0 FROM unnest(p_kinds) AS a(k) ORDER BY a.k
	ON CONFLICT (user_id, kind) DO NOTHING;

	FOR c IN SELECT l.kind, l.window_start, l.used, a.n, a.m
		 FROM chat_rate_limits l
		 JOIN unnest(p_kinds, p_n, p_max) AS a(k, n, m) ON a.k = l.kind
		 WHERE l.user_id = p_user
		 ORDER BY l.kind FOR UPDATE OF l
	LOOP
		used_now := CASE WHEN c.window_start <= now() - win THEN 0 ELSE c.used END;
		IF used_now + c.n > c.m THEN
			r_kind := c.kind;
			r_used := used_now;
			r_max := c.m;
			r_retry := greatest(1, ceil(extract(epoch FROM c.window_start + win - now())))::int;
			RETURN NEXT;
			RETURN;
		END IF;
	END LOOP;

	UPDATE chat_rate_limits l SET
		window_start = CASE WHEN l.window_start <= now() - win THEN now()
				    ELSE l.window_start END,
		used = CASE WHEN l.window_start <= now() - win THEN 0 ELSE l.used END + a.n
	FROM unnest(p_kinds, p_n) AS a(k, n)
	WHERE l.user_id = p_user AND l.kind = a.k;
END
$$;
