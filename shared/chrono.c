/*
 * chrono - the clock and the timestamp format, see chrono.h.
 */
#include "chrono.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

int64_t chrono_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t chrono_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int chrono_iso_from_pg(const char *pg, char out[CHRONO_ISO_SIZE])
{
	/* "YYYY-MM-DD HH:MM:SS" [".f{1,6}"] "+00" */
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	const size_t whole = sizeof(shape) - 1;	/* up to the seconds */
	size_t i, nf = 0;
	const char *p;

	for (i = 0; i < whole; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)pg[i]) : pg[i] != shape[i])
			return -1;
	}
	memcpy(out, pg, whole);
	out[10] = 'T';
	out[whole] = '.';
	p = pg + whole;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p) && nf < 6; p++)
			out[whole + 1 + nf++] = *p;
	}
	if (strcmp(p, "+00"))
		return -1;
	for (; nf < 6; nf++)
		out[whole + 1 + nf] = '0';
	memcpy(out + whole + 7, "+00:00", sizeof("+00:00"));
	return 0;
}

int chrono_iso_from_s(int64_t s, char out[CHRONO_ISO_SIZE])
{
	struct tm tm;
	time_t t = (time_t)s;

	if ((int64_t)t != s || !gmtime_r(&t, &tm) || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		return -1;
	if (strftime(out, CHRONO_ISO_SIZE, "%Y-%m-%dT%H:%M:%S.000000+00:00", &tm) !=
	    CHRONO_ISO_LEN)
		return -1;
	return 0;
}

int64_t chrono_s_to_ms(int64_t s, int64_t add_s)
{
	int64_t sum;

	if (__builtin_add_overflow(s, add_s, &sum))
		return s > 0 ? INT64_MAX : INT64_MIN;
	if (sum > INT64_MAX / 1000)
		return INT64_MAX;
	if (sum < INT64_MIN / 1000)
		return INT64_MIN;
	return sum * 1000;
}
