/*
 * curve - who may speak on the event bus: ZeroMQ CURVE keys in files, and
 * the ZAP handler that admits only listed publishers.
 *
 * Every tcp:// link of the bus (evt.h) is encrypted and authenticated with
 * CURVE. An inbox (a daemon's SUB socket) is a CURVE server with its
 * daemon's key pair; a publisher (a REST worker, a daemon) is a CURVE
 * client with its own key pair and knows each inbox's public key. The
 * inbox's ZAP handler admits a publisher only when its public key is in
 * the inbox's list of admitted keys (CHAT_EVT_ALLOWED_KEYS), so a host on
 * the network, or a local user, cannot publish. ipc:// links are guarded
 * by the run directory's permissions instead (docs/decisions.md).
 *
 * Files (made by build/chat-keygen, 40-character Z85 keys):
 *   NAME.key  "public <z85>\nsecret <z85>\n", mode 0600: one process's pair.
 *   NAME.pub  "<z85>\n": a public key, to hand to the other side.
 *   a list    one public key per line (e.g. cat *.pub); '#' at the start
 *             of a line or after a blank starts a comment ('#' is also
 *             a Z85 digit); blank lines are skipped.
 *
 * Layering: above log.h, with libzmq and libc. Never cfg.h (callers pass
 * file names), evt.h or a tier's header.
 */
#ifndef CHAT_CURVE_H
#define CHAT_CURVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CURVE_Z85_LEN 40			/* characters of a key in Z85 */
#define CURVE_Z85_SIZE (CURVE_Z85_LEN + 1)	/* with its NUL */

struct curve_pair {
	char pub[CURVE_Z85_SIZE];
	char sec[CURVE_Z85_SIZE];
};

/*
 * Make a new key pair (zmq_curve_keypair). 0, or -1 with err (libzmq
 * built without CURVE).
 */
int curve_keypair(struct curve_pair *kp, char *err, size_t errlen);

/*
 * Read a NAME.key file into kp. The file must not be readable by group or
 * others. 0, or -1 with a message naming the file in err.
 */
int curve_load_pair(const char *path, struct curve_pair *kp, char *err, size_t errlen);

/* Read the first key of a NAME.pub file (or list) into out. 0 or -1 with err. */
int curve_load_pub(const char *path, char out[CURVE_Z85_SIZE], char *err, size_t errlen);

/*
 * Parse the text of a key list into *keys (malloc'd, 32-byte binary keys,
 * the caller frees) and *n. 0, or -1 with err naming the bad line.
 */
int curve_parse_list(const char *text, unsigned char (**keys)[32], size_t *n,
		     char *err, size_t errlen);

/*
 * A ZAP handler (RFC 27) for one ZeroMQ context: a REP socket at
 * inproc://zeromq.zap.01 that admits CURVE clients whose key is in the
 * list file, and refuses everything else. The list is read again when
 * the file changes (checked at most once a second), so admitting a new
 * key or revoking one needs no restart.
 *
 * Service it from one thread: poll zap->sock for POLLIN and call
 * curve_zap_serve(). Not thread-safe otherwise.
 */
struct curve_zap {
	void *sock;			/* owned REP socket */
	char path[512];
	unsigned char (*keys)[32];	/* owned */
	size_t nkeys;
	time_t mtime;
	off_t size;
	time_t checked;
	uint64_t admitted, refused;	/* counters, for logs and metrics */
	time_t logged;			/* last refusal logged (one line a second) */
};

/* Bind the handler on zctx and read the list. 0, or -1 with err. */
int curve_zap_open(struct curve_zap *z, void *zctx, const char *list_path,
		   char *err, size_t errlen);

/*
 * Answer every request waiting on z->sock, without blocking. Refusals are
 * counted, and logged with the refused key and address (at most one line a
 * second). Returns the number answered.
 */
int curve_zap_serve(struct curve_zap *z);

void curve_zap_close(struct curve_zap *z);

/*
 * Make the ZeroMQ socket sock a CURVE server with kp (an inbox: set before
 * zmq_bind). 0, or -1 with err.
 */
int curve_make_server(void *sock, const struct curve_pair *kp, char *err, size_t errlen);

/*
 * Make sock a CURVE client with kp, talking to the server whose public
 * key is server_pub (set before zmq_connect). 0, or -1 with err.
 */
int curve_make_client(void *sock, const struct curve_pair *kp, const char *server_pub,
		      char *err, size_t errlen);

#endif
