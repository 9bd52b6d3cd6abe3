/*
 * sql - every SQL statement of the REST tier, prepared once per database
 * connection (db.h prepares the table again after a reconnect).
 *
 * GET /rooms/:id builds its whole JSON inside Postgres as text (string
 * concatenation, cheaper than json_build_object), so the handler forwards
 * one value; GET /rooms returns plain rows that rooms.c formats (sbuf.h),
 * cheaper still. Each statement a user route runs first also says whether
 * the caller is banned, so the ban check costs no extra round trip.
 *
 * Parameters are text; a list of user ids is passed as one array literal
 * built by pgarr.h from ids already validated as UUIDs.
 */
#ifndef REST_SQL_H
#define REST_SQL_H

#include "db.h"

/* Statement names, the first argument of db_exec(). */
#define SQL_HEALTH		"health"
#define SQL_ROOMS_CREATE	"rooms_create"
#define SQL_ROOMS_LIST		"rooms_list"
#define SQL_ROOM_GET		"room_get"
#define SQL_ROOM_LOCK		"room_lock"
#define SQL_ROOM_CHANGE		"room_change"
#define SQL_ROOM_DELETE		"room_delete"
#define SQL_BAN			"ban"
#define SQL_UNBAN		"unban"
#define SQL_LIMIT_TAKE		"limit_take"
#define SQL_LIST_NOTIFY		"list_notify"

extern const struct db_stmt sql_stmts[];
extern const int sql_nstmts;

#endif
