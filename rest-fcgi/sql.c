#include "sql.h"
#include "chrono.h"
#include "listnotify.h"


/*
 * The message object of SPEC.md as JSON text. GET /rooms/:id concatenates
 * its JSON as text instead of json_build_object(), which looks up the
 * output function of every argument on every call: half the CPU. Only
 * the message text needs escaping (to_json); ids, UUIDs and the
 * timestamps never contain a character JSON escapes.
 */
#define SQL_MSG_JSON(m) \
	"'{\"id\":' || " m ".id || ',\"room_id\":' || " m ".room_id" \
	" || ',\"message\":' || to_json(" m ".message)::text" \
	" || ',\"sender_id\":\"' || " m ".sender_id" \
	" || '\",\"created_at\":\"' || " CHRONO_ISO_SQL(m ".created_at") " || '\"}'"

/*
 * A room's participants as a JSON array of UUID strings (NULL for none),
 * in the given order (an ORDER BY clause; "" = index order, by UUID).
 */
#define SQL_PARTICIPANTS(room, order) \
	"(SELECT '[\"' || string_agg(p.participant_id::text, '\",\"' " order ") || '\"]'" \
	" FROM chat_rooms_participants p WHERE p.room_id = " room ")"

#define SQL_BANNED(p) "EXISTS (SELECT 1 FROM chat_bans WHERE user_id = " p "::uuid)"

const struct db_stmt sql_stmts[] = {
	{ SQL_HEALTH, "SELECT 1" },

	/*
	 * $1 caller, $2 apartment_id or NULL, $3 other users (uuid[]).
	 * One row with the new room id, or no row when the caller is banned.
	 * The caller is owner and participant; DISTINCT drops duplicates.
	 */
	{ SQL_ROOMS_CREATE,
	  "WITH room AS ("
	  " INSERT INTO chat_rooms (apartment_id, owner_id)"
	  " SELECT $2::bigint, $1::uuid WHERE NOT " SQL_BANNED("$1")
	  " RETURNING id),"
	  " members AS ("
	  " INSERT INTO chat_rooms_participants (room_id, participant_id, is_owner)"
	  " SELECT room.id, u.id, u.id = $1::uuid FROM room,"
	  " (SELECT DISTINCT unnest(array_append($3::uuid[], $1::uuid)) AS id) u)"
	  " SELECT id FROM room" },

	/*
	 * $1 caller. Rows of the caller's rooms, most recently active (last
	 * message, else creation) first: banned, room id, apartment_id,
	 * is_owner, created_at, participants (comma separated), then the last
	 * message or NULLs: id, text, sender, created_at. A banned caller
	 * gets one row (banned, NULLs), so does a caller without rooms
	 * (not banned, NULLs). rooms.c formats the JSON: the same text built
	 * here cost half as much again (to_char and concatenation).
	 *
	 * Per room: the participants come with the room row (participant_ids,
	 * kept by triggers, sql/004), the last message is one backward index
	 * step. Correlated on purpose: linear in the caller's rooms whatever
	 * the planner estimates, while a grouped join of all participants ran
	 * its aggregate once per room under the generic plan (rows=1).
	 */
	{ SQL_ROOMS_LIST,
	  "SELECT b.banned, x.id, x.apartment_id, x.is_owner, x.created_at, x.parts,"
	  " x.m_id, x.m_text, x.m_sender, x.m_at"
	  " FROM (SELECT " SQL_BANNED("$1") " AS banned) b"
	  " LEFT JOIN LATERAL (SELECT r.id, r.apartment_id,"
	  "   coalesce(r.owner_id = $1::uuid, me.is_owner) AS is_owner, r.created_at,"
	  "   array_to_string(r.participant_ids, ',') AS parts,"
	  "   lm.id AS m_id, lm.message AS m_text, lm.sender_id AS m_sender,"
	  "   lm.created_at AS m_at, coalesce(lm.created_at, r.created_at) AS active"
	  "  FROM chat_rooms_participants me"
	  "  JOIN chat_rooms r ON r.id = me.room_id"
	  "  LEFT JOIN LATERAL (SELECT m.id, m.message, m.sender_id, m.created_at"
	  "    FROM chat_room_messages m WHERE m.room_id = r.id"
	  "    ORDER BY m.id DESC LIMIT 1) lm ON true"
	  "  WHERE me.participant_id = $1::uuid AND NOT b.banned) x ON true"
	  " ORDER BY x.active DESC, x.id DESC" },

	/*
	 * $1 caller, $2 room, $3 before (exclusive) or NULL, $4 limit.
	 * One row: banned, then the room object or NULL when there is no such
	 * room or the caller is not in it. Messages: the $4 newest below $3,
	 * oldest first.
	 */
	{ SQL_ROOM_GET,
	  "SELECT b.banned, CASE WHEN b.banned THEN NULL ELSE (SELECT"
	  "  '{\"room_id\":' || r.id"
	  "  || ',\"apartment_id\":' || coalesce(r.apartment_id::text, 'null')"
	  "  || ',\"created_at\":\"' || " CHRONO_ISO_SQL("r.created_at")
	  "  || '\",\"owner_id\":' || coalesce('\"' || r.owner_id || '\"', 'null')"
	  "  || ',\"participants_id\":' || coalesce(" SQL_PARTICIPANTS("r.id", "ORDER BY p.id") ", '[]')"
	  "  || ',\"messages\":[' || coalesce((SELECT string_agg(" SQL_MSG_JSON("m") ", ',' ORDER BY m.id)"
	  "    FROM (SELECT * FROM chat_room_messages x WHERE x.room_id = r.id"
	  "      AND x.id < coalesce($3::bigint, 9223372036854775807)"
	  "      ORDER BY x.id DESC LIMIT $4::int) m), '') || ']}'"
	  " FROM chat_rooms r WHERE r.id = $2::bigint AND EXISTS ("
	  "  SELECT 1 FROM chat_rooms_participants p"
	  "  WHERE p.room_id = r.id AND p.participant_id = $1::uuid)) END"
	  " FROM (SELECT " SQL_BANNED("$1") " AS banned) b" },

	/*
	 * $1 caller, $2 room; inside a transaction. One row: banned, the
	 * owner (NULL: no such room), whether the caller is a participant.
	 * Locks the room row, so changes to one room run one after another.
	 */
	{ SQL_ROOM_LOCK,
	  "SELECT " SQL_BANNED("$1") ", r.owner_id, r.member"
	  " FROM (SELECT 1) one LEFT JOIN LATERAL ("
	  "  SELECT x.owner_id, EXISTS (SELECT 1 FROM chat_rooms_participants p"
	  "   WHERE p.room_id = x.id AND p.participant_id = $1::uuid) AS member"
	  "  FROM chat_rooms x WHERE x.id = $2::bigint FOR UPDATE) r ON true" },

	/*
	 * $1 room, $2 users to add, $3 users to remove (uuid[]); the room is
	 * locked. Rows ('a'|'r', user, participants after the change) of what
	 * really changed. The count is the room's before the statement (its
	 * snapshot) less the removed plus the added: the lock keeps other
	 * requests out of the room until this transaction ends.
	 */
	{ SQL_ROOM_CHANGE,
	  "WITH del AS ("
	  " DELETE FROM chat_rooms_participants"
	  " WHERE room_id = $1::bigint AND participant_id = ANY ($3::uuid[])"
	  " RETURNING participant_id),"
	  " ins AS ("
	  " INSERT INTO chat_rooms_participants (room_id, participant_id)"
	  " SELECT $1::bigint, u FROM unnest($2::uuid[]) u"
	  " ON CONFLICT (room_id, participant_id) DO NOTHING"
	  " RETURNING participant_id)"
	  " SELECT x.op, x.participant_id,"
	  "  (SELECT count(*) FROM chat_rooms_participants WHERE room_id = $1::bigint)"
	  "  - (SELECT count(*) FROM del) + (SELECT count(*) FROM ins)"
	  " FROM (SELECT 'r' AS op, participant_id FROM del"
	  "  UNION ALL SELECT 'a', participant_id FROM ins) x" },

	/*
	 * $1 room, locked. Deletes messages, participants and the room
	 * (explicitly: a production schema may lack ON DELETE CASCADE).
	 */
	{ SQL_ROOM_DELETE,
	  "WITH parts AS ("
	  " DELETE FROM chat_rooms_participants WHERE room_id = $1::bigint),"
	  " msgs AS (DELETE FROM chat_room_messages WHERE room_id = $1::bigint)"
	  " DELETE FROM chat_rooms WHERE id = $1::bigint" },

	/* $1 user, $2 admin's sub, $3 reason or NULL. The ban as JSON. */
	{ SQL_BAN,
	  "INSERT INTO chat_bans AS b (user_id, banned_by, reason)"
	  " VALUES ($1::uuid, $2::uuid, $3::text)"
	  " ON CONFLICT (user_id) DO UPDATE"
	  " SET reason = coalesce(EXCLUDED.reason, b.reason)"
	  " RETURNING json_build_object('user_id', b.user_id, 'banned', true,"
	  "  'banned_at', " CHRONO_ISO_SQL("b.banned_at") ", 'banned_by', b.banned_by,"
	  "  'reason', b.reason)" },

	/* $1 user. A row when there was a ban. */
	{ SQL_UNBAN, "DELETE FROM chat_bans WHERE user_id = $1::uuid RETURNING 1" },

	/*
	 * $1 user, $2 kinds (text[]), $3 units of each (int[]), $4 maximum of
	 * each per window (int[]), $5 window in seconds; inside a transaction.
	 * No row: taken. A row (kind, used, max, retry-after seconds): refused,
	 * nothing taken (sql/005, chat_limit_take).
	 */
	{ SQL_LIMIT_TAKE,
	  "SELECT r_kind, r_used, r_max, r_retry"
	  " FROM chat_limit_take($1::uuid, $2::text[], $3::int[], $4::int[], $5::int)" },

	/* $1 rooms, $2 users changed: after COMMIT (rest_lists_changed, listnotify.h) */
	{ SQL_LIST_NOTIFY, LISTNOTIFY_SQL },
};
const int sql_nstmts = sizeof(sql_stmts) / sizeof(sql_stmts[0]);
