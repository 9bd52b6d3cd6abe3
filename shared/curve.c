#include "curve.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define CURVE_FILE_MAX (1 << 20)	/* a key list of ~25,000 keys */
#define CURVE_ZAP_ENDPOINT "inproc://zeromq.zap.01"

int curve_keypair(struct curve_pair *kp, char *err, size_t errlen)
{
	if (zmq_curve_keypair(kp->pub, kp->sec) != 0) {
		snprintf(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/* The whole file, NUL-terminated and malloc'd; NULL with err. */
static char *curve_slurp(const char *path, int private, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > CURVE_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
			 CURVE_FILE_MAX);
		goto out;
	}
	if (private && (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: a secret key must not be readable by group or "
			 "others (chmod 600)", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	buf[n] = '\0';
out:
	fclose(f);
	return buf;
}

/* Copy the next line of *p (without '#' comment and blanks) into out. */
static int curve_next_line(const char **p, char *out, size_t outlen, int *lineno)
{
	while (**p) {
		const char *e = strchr(*p, '\n'), *s = *p, *h;
		size_t n;

		if (!e)
			e = s + strlen(s);
		*p = *e ? e + 1 : e;
		(*lineno)++;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		/* '#' is a Z85 digit: a comment starts a line or follows a blank */
		for (h = s; h < e; h++)
			if (*h == '#' && (h == s || h[-1] == ' ' || h[-1] == '\t'))
				break;
		e = h;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (s == e)
			continue;
		n = (size_t)(e - s) < outlen - 1 ? (size_t)(e - s) : outlen - 1;
		memcpy(out, s, n);
		out[n] = '\0';
		return 1;
	}
	return 0;
}

/* 0 when s is a valid Z85 key (decodes to 32 bytes) into bin (may be NULL). */
static int curve_key_ok(const char *s, unsigned char bin[32])
{
	unsigned char tmp[32];

	if (strlen(s) != CURVE_Z85_LEN)
		return -1;
	return zmq_z85_decode(bin ? bin : tmp, s) ? 0 : -1;
}

int curve_load_pair(const char *path, struct curve_pair *kp, char *err, size_t errlen)
{
	char *text = curve_slurp(path, 1, err, errlen), line[128];
	const char *p = text;
	int lineno = 0, rc = -1;

	if (!text)
		return -1;
	memset(kp, 0, sizeof(*kp));
	while (curve_next_line(&p, line, sizeof(line), &lineno)) {
		char *dst = !strncmp(line, "public ", 7) ? kp->pub :
			    !strncmp(line, "secret ", 7) ? kp->sec : NULL;

		if (!dst || curve_key_ok(line + 7, NULL)) {
			snprintf(err, errlen, "%s:%d: expected 'public <key>' or 'secret <key>'",
				 path, lineno);
			goto out;
		}
		memcpy(dst, line + 7, CURVE_Z85_SIZE);
	}
	if (!kp->pub[0] || !kp->sec[0]) {
		snprintf(err, errlen, "%s: needs a 'public' and a 'secret' line (chat-keygen)",
			 path);
		goto out;
	}
	rc = 0;
out:
	memset(text, 0, strlen(text));	/* the secret leaves no copy behind */
	free(text);
	return rc;
}

int curve_load_pub(const char *path, char out[CURVE_Z85_SIZE], char *err, size_t errlen)
{
	char *text = curve_slurp(path, 0, err, errlen), line[128];
	const char *p = text;
	int lineno = 0, rc = -1;

	if (!text)
		return -1;
	if (!curve_next_line(&p, line, sizeof(line), &lineno) || curve_key_ok(line, NULL))
		snprintf(err, errlen, "%s: expected a public key (40 Z85 characters)", path);
	else {
		memcpy(out, line, CURVE_Z85_SIZE);
		rc = 0;
	}
	free(text);
	return rc;
}

int curve_parse_list(const char *text, unsigned char (**keys)[32], size_t *n,
		     char *err, size_t errlen)
{
	unsigned char (*k)[32] = NULL, (*nk)[32];
	const char *p = text;
	size_t cap = 0, cnt = 0;
	char line[128];
	int lineno = 0;

	while (curve_next_line(&p, line, sizeof(line), &lineno)) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			nk = realloc(k, cap * sizeof(*k));
			if (!nk) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			k = nk;
		}
		if (curve_key_ok(line, k[cnt])) {
			snprintf(err, errlen, "line %d: not a public key (40 Z85 characters)",
				 lineno);
			goto fail;
		}
		cnt++;
	}
	*keys = k;
	*n = cnt;
	return 0;
fail:
	free(k);
	return -1;
}

/* Read the list again if its file changed. -1 (with err) keeps the old list. */
static int curve_zap_reload(struct curve_zap *z, int force, char *err, size_t errlen)
{
	unsigned char (*keys)[32];
	struct stat st;
	char *text, msg[256];
	size_t n;
	time_t now = time(NULL);

	if (!force && now == z->checked)
		return 0;
	z->checked = now;
	if (stat(z->path, &st)) {
		snprintf(err, errlen, "%s: %s", z->path, strerror(errno));
		return -1;
	}
	if (!force && st.st_mtime == z->mtime && st.st_size == z->size)
		return 0;
	text = curve_slurp(z->path, 0, err, errlen);
	if (!text)
		return -1;
	if (curve_parse_list(text, &keys, &n, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s: %s", z->path, msg);
		free(text);
		return -1;
	}
	free(text);
	free(z->keys);
	z->keys = keys;
	z->nkeys = n;
	z->mtime = st.st_mtime;
	z->size = st.st_size;
	if (!force)
		log_info("event bus: %zu admitted publisher key(s) read from %s", n, z->path);
	return 0;
}

int curve_zap_open(struct curve_zap *z, void *zctx, const char *list_path,
		   char *err, size_t errlen)
{
	int linger = 0;

	memset(z, 0, sizeof(*z));
	if (snprintf(z->path, sizeof(z->path), "%s", list_path) >= (int)sizeof(z->path)) {
		snprintf(err, errlen, "admitted keys file name is too long");
		return -1;
	}
	if (curve_zap_reload(z, 1, err, errlen))
		return -1;
	z->sock = zmq_socket(zctx, ZMQ_REP);
	if (!z->sock || zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_bind(z->sock, CURVE_ZAP_ENDPOINT)) {
		snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(errno));
		curve_zap_close(z);
		return -1;
	}
	return 0;
}

static int curve_zap_known(const struct curve_zap *z, const unsigned char key[32])
{
	for (size_t i = 0; i < z->nkeys; i++)
		if (!memcmp(z->keys[i], key, 32))
			return 1;
	return 0;
}

/*
 * One request: version, request id, domain, address, identity, mechanism,
 * credentials... (RFC 27). Reply: version, request id, status code, status
 * text, user id, metadata.
 */
static int curve_zap_one(struct curve_zap *z)
{
	zmq_msg_t part[8];
	int nparts = 0, more = 1, ok = 0;
	const char *code = "400", *text = "not an admitted publisher";
	char err[256], key[CURVE_Z85_SIZE] = "?", peer[64] = "?";

	while (more && nparts < 8) {
		zmq_msg_init(&part[nparts]);
		if (zmq_msg_recv(&part[nparts], z->sock, nparts ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&part[nparts]);
			if (!nparts)
				return 0;	/* nothing waiting */
			break;
		}
		more = zmq_msg_more(&part[nparts]);
		nparts++;
	}
	while (more) {		/* drain an over-long request */
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, z->sock, 0) < 0)
			more = 0;
		else
			more = zmq_msg_more(&m);
		zmq_msg_close(&m);
	}
	if (curve_zap_reload(z, 0, err, sizeof(err)))
		log_warn("event bus: %s (keeping the previous list)", err);
	if (nparts >= 7 && zmq_msg_size(&part[5]) == 5 &&
	    !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) && zmq_msg_size(&part[6]) == 32) {
		zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
		ok = curve_zap_known(z, zmq_msg_data(&part[6]));
	}
	if (nparts >= 4) {
		size_t n = zmq_msg_size(&part[3]) < sizeof(peer) - 1 ? zmq_msg_size(&part[3])
								   : sizeof(peer) - 1;

		memcpy(peer, zmq_msg_data(&part[3]), n);
		peer[n] = '\0';
	}
	if (ok) {
		code = "200";
		text = "OK";
		z->admitted++;
	} else {
		z->refused++;
		/* at most one line a second: a flood of refused sockets is not a flood of logs */
		if (time(NULL) != z->logged) {
			z->logged = time(NULL);
			log_warn("event bus: refused a publisher from %s with key %s "
				 "(%llu refused so far)", peer, key, (unsigned long long)z->refused);
		}
	}
	/* version and request id are echoed */
	zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
	if (nparts >= 2)
		zmq_send(z->sock, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
	else
		zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
	zmq_send(z->sock, code, 3, ZMQ_SNDMORE);
	zmq_send(z->sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(z->sock, ok ? key : "", ok ? CURVE_Z85_LEN : 0, ZMQ_SNDMORE);
	zmq_send(z->sock, "", 0, 0);
	for (int i = 0; i < nparts; i++)
		zmq_msg_close(&part[i]);
	return 1;
}

int curve_zap_serve(struct curve_zap *z)
{
	int n = 0;

	while (z->sock && curve_zap_one(z))
		n++;
	return n;
}

void curve_zap_close(struct curve_zap *z)
{
	if (z->sock)
		zmq_close(z->sock);
	free(z->keys);
	memset(z, 0, sizeof(*z));
}

int curve_make_server(void *sock, const struct curve_pair *kp, char *err, size_t errlen)
{
	int one = 1;
	static const char domain[] = "chat";

	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, CURVE_Z85_LEN) ||
	    /* a domain makes ZAP mandatory: no handler, no peer admitted */
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, sizeof(domain) - 1)) {
		snprintf(err, errlen, "CURVE server: %s", zmq_strerror(errno));
		return -1;
	}
#ifdef ZMQ_ZAP_ENFORCE_DOMAIN
	zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof(one));
#endif
	return 0;
}

int curve_make_client(void *sock, const struct curve_pair *kp, const char *server_pub,
		      char *err, size_t errlen)
{
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, CURVE_Z85_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp->pub, CURVE_Z85_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, CURVE_Z85_LEN)) {
		snprintf(err, errlen, "CURVE client: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}
