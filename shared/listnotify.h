/*
 * listnotify - how the service's writers announce GET /rooms changes
 * (sql/007_list_notify.sql; the listener is rest-fcgi/listcache.c).
 *
 * Every statement that changes a table GET /rooms reads is announced on
 * channel chat_list_changed. Foreign writers are announced by triggers,
 * inside their transaction. The service's own writers (the REST tier's
 * connections and the daemons' store workers) are not: a NOTIFY inside
 * the writing transaction holds Postgres' global notification lock
 * through its commit and WAL flush, which serialises all such commits.
 * Instead their sessions carry LISTNOTIFY_SESSION (the triggers stay
 * silent for them), and they:
 *  - run LISTNOTIFY_SQL with the rooms and users they changed after each
 *    COMMIT, as a statement of its own, which commits without waiting for
 *    the WAL flush (it changed no data), so the lock is held for
 *    microseconds;
 *  - run LISTNOTIFY_HELLO on every new connection: whatever was committed
 *    and not yet announced when the previous connection was lost (or the
 *    process died) counts as changed.
 * (db_set_session() applies the first and the last to a struct db.)
 *
 * Header only: the strings are the contract with sql/007.
 */
#ifndef CHAT_LISTNOTIFY_H
#define CHAT_LISTNOTIFY_H

#define LISTNOTIFY_CHANNEL "chat_list_changed"
#define LISTNOTIFY_SESSION "-c chat.list_notify=after"
#define LISTNOTIFY_HELLO "SELECT chat_list_notify_all()"
/* $1 rooms (bigint[] literal or NULL), $2 users (uuid[] literal or NULL) */
#define LISTNOTIFY_SQL "SELECT chat_list_announce($1::bigint[], $2::uuid[])"

#endif
