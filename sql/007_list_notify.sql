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
--   *               anything (TRUNCATE; a writer's new connection)
--
-- One notification per statement (transition tables), not per row: a
-- batch of 1,000 messages is one notification with its distinct rooms.
-- Listeners are rest-fcgi workers (one connection each).

-- Announce changed rooms and users (NULL or empty: none), in as many
-- notifications as the lists need (pg_notify refuses payloads of 8000
-- bytes or more).
CREATE OR REPLACE FUNCTION chat_list_notify(p_rooms bigint[], p_users uuid[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	kind text;
	ids text[];
	part text;
	id text;
BEGIN
	FOREACH kind IN ARRAY ARRAY['r:', 'u:'] LOOP
		ids := CASE kind WHEN 'r:' THEN p_rooms::text[] ELSE p_users::text[] END;
		CONTINUE WHEN ids IS NULL OR cardinality(ids) = 0;
		part := NULL;
		FOREACH id IN ARRAY ids LOOP
			IF part IS NOT NULL AND length(part) + length(id) > 7900 THEN
				PERFORM pg_notify('chat_list_changed', kind || part);
				part := NULL;
			END IF;
			part := CASE WHEN part IS NULL THEN id ELSE part || ',' || id END;
		END LOOP;
		PERFORM pg_notify('chat_list_changed', kind || part);
	END LOOP;
END
$$;

-- The service's writers after their COMMIT, as a transaction of its own
-- (shared/listnotify.h). A transaction that notifies takes an xid and
-- writes a commit record while it holds Postgres' global notification
-- lock: its commit need not wait for the WAL flush (it changed no data,
-- and a crash loses the notification either way), so the lock is held for
-- microseconds, not a flush.
CREATE OR REPLACE FUNCTION chat_list_announce(p_rooms bigint[], p_users uuid[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM chat_list_notify(p_rooms, p_users);
END
$$;

-- What a writer sends on each new connection: whatever it committed and
-- had not yet announced when its previous one was lost counts as changed.
CREATE OR REPLACE FUNCTION chat_list_notify_all() RETURNS void
LANGUAGE sql AS $$ SELECT pg_notify('chat_list_changed', '*') $$;

-- The triggers' side. Silent for sessions with chat.list_notify = 'after':
-- the service's own writers (shared/db.c sessions of both tiers), which
-- call chat_list_notify() themselves after COMMIT, in a transaction of its
-- own. A NOTIFY inside the writing transaction holds Postgres' global
-- notification lock through that transaction's commit and WAL flush, so
-- notifying commits run one at a time: POST /rooms fell from 3,500 to
-- 2,000/s and the websocket p50 at 2,000 msgs/s rose by 0.3 ms with it.
CREATE OR REPLACE FUNCTION chat_list_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
	users uuid[];
BEGIN
	IF current_setting('chat.list_notify', true) = 'after' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM chat_list_notify_all();
		RETURN NULL;
	END IF;
	IF TG_TABLE_NAME = 'chat_room_messages' THEN
		IF TG_OP = 'UPDATE' THEN
			SELECT array_agg(DISTINCT x) INTO ids FROM (
				SELECT room_id FROM changed UNION SELECT room_id FROM changed_old) s(x);
		ELSE
			SELECT array_agg(DISTINCT room_id) INTO ids FROM changed;
		END IF;
	ELSIF TG_TABLE_NAME = 'chat_rooms' THEN
		SELECT array_agg(DISTINCT id) INTO ids FROM changed;
	ELSIF TG_TABLE_NAME = 'chat_rooms_participants' THEN
		IF TG_OP = 'UPDATE' THEN
			SELECT array_agg(DISTINCT x) INTO users FROM (
				SELECT participant_id FROM changed
				UNION SELECT participant_id FROM changed_old) s(x);
		ELSE
			SELECT array_agg(DISTINCT participant_id) INTO users FROM changed;
		END IF;
	ELSE	-- chat_bans
		SELECT array_agg(DISTINCT user_id) INTO users FROM changed;
	END IF;
	PERFORM chat_list_notify(ids, users);
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
