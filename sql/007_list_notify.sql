-- GET /rooms from a cache (rest-fcgi/listcache.c, issue 12). A REST
-- worker keeps the answers it gave and serves them again until something
-- they were made of changes. What changes them is announced here, by
-- whoever writes: the websocket daemons' stores, the REST tier, another
-- Swappart component or a script on a shared database. Each statement
-- that changes a table GET /rooms reads sends one notification on channel
-- chat_list_changed (sent at commit; nothing for a rolled back one):
--
--   r:ID,ID,...     rooms whose row, messages or participant list changed
--   u:UUID,UUID,... users whose memberships or ban changed
--   *               anything (TRUNCATE, or a list too long for a payload)
--
-- One notification per statement (transition tables), not per row: a
-- daemon's batch of 1,000 messages is one notification with its distinct
-- rooms. Listeners are rest-fcgi workers (one connection each).

CREATE OR REPLACE FUNCTION chat_list_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	ids text;
	kind text := 'r:';
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('chat_list_changed', '*');
		RETURN NULL;
	END IF;
	IF TG_TABLE_NAME = 'chat_room_messages' THEN
		IF TG_OP = 'UPDATE' THEN
			SELECT string_agg(DISTINCT x::text, ',') INTO ids FROM (
				SELECT room_id FROM changed UNION SELECT room_id FROM changed_old) s(x);
		ELSE
			SELECT string_agg(DISTINCT room_id::text, ',') INTO ids FROM changed;
		END IF;
	ELSIF TG_TABLE_NAME = 'chat_rooms' THEN
		SELECT string_agg(DISTINCT id::text, ',') INTO ids FROM changed;
	ELSIF TG_TABLE_NAME = 'chat_rooms_participants' THEN
		kind := 'u:';
		IF TG_OP = 'UPDATE' THEN
			SELECT string_agg(DISTINCT x::text, ',') INTO ids FROM (
				SELECT participant_id FROM changed
				UNION SELECT participant_id FROM changed_old) s(x);
		ELSE
			SELECT string_agg(DISTINCT participant_id::text, ',') INTO ids FROM changed;
		END IF;
	ELSE	-- chat_bans
		kind := 'u:';
		SELECT string_agg(DISTINCT user_id::text, ',') INTO ids FROM changed;
	END IF;
	IF ids IS NULL THEN
		RETURN NULL;	-- a statement that changed no row
	END IF;
	-- pg_notify refuses payloads of 8000 bytes or more
	PERFORM pg_notify('chat_list_changed',
			  CASE WHEN length(ids) > 7900 THEN '*' ELSE kind || ids END);
	RETURN NULL;
END
$$;

-- chat_rooms: UPDATE (apartment, owner, participant_ids, which 004's
-- triggers keep current) and DELETE; a new room has no participant yet,
-- its participants' INSERT announces it.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['chat_room_messages', 'chat_rooms',
				 'chat_rooms_participants', 'chat_bans'] LOOP
		EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_list_ins', t);
		EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_list_del', t);
		EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_list_upd', t);
		EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_list_trunc', t);
		IF t <> 'chat_rooms' THEN
			EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I'
				' REFERENCING NEW TABLE AS changed'
				' FOR EACH STATEMENT EXECUTE FUNCTION chat_list_changed()',
				t || '_list_ins', t);
		END IF;
		EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I'
			' REFERENCING OLD TABLE AS changed'
			' FOR EACH STATEMENT EXECUTE FUNCTION chat_list_changed()',
			t || '_list_del', t);
		EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I'
			' REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed'
			' FOR EACH STATEMENT EXECUTE FUNCTION chat_list_changed()',
			t || '_list_upd', t);
		EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I'
			' FOR EACH STATEMENT EXECUTE FUNCTION chat_list_changed()',
			t || '_list_trunc', t);
	END LOOP;
END
$$;
