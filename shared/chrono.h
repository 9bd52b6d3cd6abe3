/*
 * chrono - the clock, and the API's one timestamp format.
 *
 * Layering: a base module. chrono.h and chrono.c include only libc
 * headers and never include another header of this project; anything
 * may use them.
 *
 * Clocks. chrono_wall_ms() is the wall clock, for times compared with
 * times from elsewhere: a token's exp, an event's "at", a log line.
 * chrono_mono_us() is the monotonic clock, for durations measured inside
 * one process, which a step of the wall clock must not distort.
 *
 * Timestamps. The API writes every point in time as
 * "2026-11-25T17:55:15.123456+00:00" (SPEC.md section 2: UTC,
 * microseconds, a numeric offset), CHRONO_ISO_LEN characters.
 *   - In C, chrono_iso_from_pg() is the one conversion: from the text
 *     form Postgres gives a timestamptz (db.h pins it with DateStyle=ISO
 *     and TimeZone=UTC: "2026-11-25 17:55:15.1234+00").
 *   - In SQL that builds its JSON itself, the same text comes from the
 *     function chat_iso() of sql/002_chat_service.sql, or from
 *     CHRONO_ISO_SQL() below, which is chat_iso()'s body written inline:
 *     an IMMUTABLE SQL function around the STABLE to_char() is never
 *     inlined by the planner, so a statement calling it re-parses the
 *     function body on every execution. The two must stay the same text.
 */
#ifndef CHAT_CHRONO_H
#define CHAT_CHRONO_H

#include <stdint.h>

#define CHRONO_ISO_LEN 32			/* "2026-11-25T17:55:15.123456+00:00" */
#define CHRONO_ISO_SIZE (CHRONO_ISO_LEN + 1)	/* with its NUL */

/* The SQL expression that formats the timestamptz expression ts. */
#define CHRONO_ISO_SQL(ts) \
	"to_char((" ts ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"

/* Wall clock: milliseconds since the epoch. */
int64_t chrono_wall_ms(void);

/* Monotonic clock: microseconds since an arbitrary start. */
int64_t chrono_mono_us(void);

/*
 * (s + add_s) seconds in milliseconds, saturating at INT64_MAX / INT64_MIN
 * instead of overflowing: claims such as a token's exp come from outside.
 */
int64_t chrono_s_to_ms(int64_t s, int64_t add_s);

/*
 * Convert pg, a timestamptz in Postgres' text form (above; 0 to 6
 * fraction digits), into the API's form in out. Returns 0, or -1 for any
 * other form (out undefined): a caller reports that as a server error,
 * never as a wrong date.
 */
int chrono_iso_from_pg(const char *pg, char out[CHRONO_ISO_SIZE]);

/*
 * The API's form of the point in time s seconds after the epoch (UTC,
 * ".000000" fraction), e.g. a minted token's expiry. Returns 0, or -1
 * when s is outside the years 0..9999.
 */
int chrono_iso_from_s(int64_t s, char out[CHRONO_ISO_SIZE]);

#endif
