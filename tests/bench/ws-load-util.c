/*
 * ws-load-util - what the load generator needs besides sockets: HS256
 * tokens, base64, the Sec-WebSocket-Accept check, a JSON field scan,
 * latency percentiles and the users of the run (ws-load.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ws-load.h"

uint64_t wl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/*
 * xorshift64*: masking keys and Sec-WebSocket-Keys need not be
 * unpredictable here (the generator talks to our own daemon on loopback),
 * and a syscall per frame would cost the measurement.
 */
uint64_t wl_rand(void)
{
	static uint64_t s;

	if (!s) {
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = wl_now_ns();
		s |= 1;
	}
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545F4914F6CDD1DULL;
}

void wl_b64(const unsigned char *in, size_t n, char *out, int url)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char safe[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *t = url ? safe : std;
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		*out++ = t[v >> 18];
		*out++ = t[v >> 12 & 63];
		*out++ = t[v >> 6 & 63];
		*out++ = t[v & 63];
	}
	if (i < n) {
		v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0);
		*out++ = t[v >> 18];
		*out++ = t[v >> 12 & 63];
		if (i + 1 < n)
			*out++ = t[v >> 6 & 63];
		else if (!url)
			*out++ = '=';
		if (!url)	/* JWTs (base64url) carry no padding */
			*out++ = '=';
	}
	*out = '\0';
}

int wl_mint(const char *secret, const char *aud, const char *sub, long ttl,
	    char *out, size_t outlen)
{
	static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char claims[512];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	time_t now = time(NULL);
	size_t hl, cl;
	int n;

	n = snprintf(claims, sizeof(claims),
		     "{\"sub\":\"%s\",\"aud\":\"%s\",\"role\":\"authenticated\","
		     "\"iat\":%ld,\"exp\":%ld}", sub, aud, (long)now, (long)now + ttl);
	if (n < 0 || (size_t)n >= sizeof(claims))
		return -1;
	hl = (sizeof(head) - 1 + 2) / 3 * 4;
	cl = ((size_t)n + 2) / 3 * 4;
	if (hl + cl + 2 + 44 >= outlen)
		return -1;
	wl_b64((const unsigned char *)head, sizeof(head) - 1, out, 1);
	hl = strlen(out);
	out[hl] = '.';
	wl_b64((const unsigned char *)claims, n, out + hl + 1, 1);
	hl = strlen(out);
	if (!HMAC(EVP_sha256(), secret, strlen(secret), (unsigned char *)out, hl,
		  mac, &maclen))
		return -1;
	out[hl] = '.';
	wl_b64(mac, maclen, out + hl + 1, 1);
	return 0;
}

void wl_accept_for(const char *key, char out[32])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char in[128];
	int n;

	n = snprintf(in, sizeof(in), "%s%s", key, guid);
	SHA1((unsigned char *)in, n, md);
	wl_b64(md, sizeof(md), out, 0);
}

int wl_json_field(const char *p, size_t len, const char *key,
		  const char **v, size_t *vlen)
{
	char pat[64];
	const char *end = p + len, *q = p, *s;
	int n = snprintf(pat, sizeof(pat), "\"%s\"", key);

	if (n < 0 || (size_t)n >= sizeof(pat))
		return -1;
	while ((q = memmem(q, end - q, pat, n))) {
		s = q + n;
		/* a match inside a string value is preceded by a backslash */
		if (q > p && q[-1] == '\\') {
			q = s;
			continue;
		}
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
			s++;
		if (s == end || *s != ':') {
			q = s;
			continue;
		}
		s++;
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
			s++;
		if (s < end && *s == '"') {
			*v = ++s;
			while (s < end && *s != '"')
				s += *s == '\\' ? 2 : 1;
			if (s > end)
				return -1;
			*vlen = s - *v;
			return 0;
		}
		*v = s;
		while (s < end && *s != ',' && *s != '}' && *s != ' ')
			s++;
		*vlen = s - *v;
		return 0;
	}
	return -1;
}

void wl_lat_add(struct wl_lat *l, uint64_t ns)
{
	uint32_t *v;
	uint64_t us = ns / 1000;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 65536;

		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;	/* a sample less; the count shows it */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const struct wl_lat *l, double p)
{
	size_t i = (size_t)(p / 100.0 * l->n + 0.999999);

	if (!l->n)
		return 0;
	if (i < 1)
		i = 1;
	if (i > l->n)
		i = l->n;
	return l->v[i - 1] / 1000.0;
}

void wl_lat_print(struct wl_lat *l, const char *name)
{
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	printf("%s_samples %zu\n", name, l->n);
	printf("%s_p50_ms %.3f\n", name, pct(l, 50));
	printf("%s_p90_ms %.3f\n", name, pct(l, 90));
	printf("%s_p99_ms %.3f\n", name, pct(l, 99));
	printf("%s_max_ms %.3f\n", name, pct(l, 100));
}

void wl_lat_release(struct wl_lat *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int wl_load_rooms(struct wl_ctx *ctx, const char *path, int max_users)
{
	struct room {
		long id;
		char a[UUID_STR_SIZE], b[UUID_STR_SIZE];
	} *rooms = NULL, *r;
	size_t n = 0, cap = 0, i;
	char *line = NULL;
	size_t linecap = 0;
	FILE *f = fopen(path, "r");
	int ret = -1;

	if (!f) {
		perror(path);
		return -1;
	}
	while (getline(&line, &linecap, f) > 0) {
		if (max_users > 0 && (int)(2 * n) + 2 > max_users)
			break;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			r = realloc(rooms, cap * sizeof(*rooms));
			if (!r)
				goto out;
			rooms = r;
		}
		r = &rooms[n];
		if (sscanf(line, "%ld %" WL_XSTR(UUID_STR_LEN) "s %" WL_XSTR(UUID_STR_LEN) "s",
			   &r->id, r->a, r->b) != 3) {
			fprintf(stderr, "%s: line %zu is not \"room_id uuid uuid\"\n",
				path, n + 1);
			goto out;
		}
		n++;
	}
	if (!n) {
		fprintf(stderr, "%s: no rooms\n", path);
		goto out;
	}
	if (wl_init(ctx, 2 * n))
		goto out;
	for (i = 0; i < n; i++) {
		struct wl_conn *a = &ctx->conns[2 * i], *b = &ctx->conns[2 * i + 1];

		memcpy(a->user, rooms[i].a, sizeof(a->user));
		memcpy(b->user, rooms[i].b, sizeof(b->user));
		a->room = b->room = rooms[i].id;
		a->peer = b->id;
		b->peer = a->id;
	}
	ret = 0;
out:
	free(line);
	free(rooms);
	fclose(f);
	return ret;
}

void wl_gen_users(struct wl_ctx *ctx, long offset)
{
	int i;

	/* The same formula as the seeding SQL of tests/bench/ws.sh. */
	for (i = 0; i < ctx->nconns; i++)
		snprintf(ctx->conns[i].user, sizeof(ctx->conns[i].user),
			 "00000000-0000-4000-8000-%012lx", offset + i);
}
