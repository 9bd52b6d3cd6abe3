/*
 * ws-load-ws - sockets, the RFC 6455 client handshake and framing, and
 * the epoll loop of the load generator (ws-load.h).
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ws-load.h"

#define WL_HANDSHAKE_MAX 8192	/* a longer upgrade response is refused */
#define WL_EVENTS 512

/* Failures are printed, but only the first few: 15,000 lines help nobody. */
static int notes_left = 10;

static void note(const struct wl_conn *c, const char *what, int err)
{
	if (notes_left <= 0)
		return;
	notes_left--;
	fprintf(stderr, "ws-load: connection %d (%s): %s%s%s\n", c->id, c->user,
		what, err ? ": " : "", err ? strerror(err) : "");
}

/* Room for more bytes after b->len, plus one for a terminating NUL. */
static int buf_reserve(struct wl_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more + 1 <= b->cap)
		return 0;
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more + 1 <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_put(struct wl_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct wl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int wl_init(struct wl_ctx *ctx, int n)
{
	int i;

	ctx->conns = calloc(n, sizeof(*ctx->conns));
	ctx->dirty = calloc(n, sizeof(*ctx->dirty));
	ctx->scratch = malloc(WL_SCRATCH + 1);
	ctx->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!ctx->conns || !ctx->dirty || !ctx->scratch || ctx->ep < 0) {
		fprintf(stderr, "ws-load: cannot set up %d connections\n", n);
		return -1;
	}
	ctx->nconns = n;
	for (i = 0; i < n; i++) {
		ctx->conns[i].fd = -1;
		ctx->conns[i].id = i;
		ctx->conns[i].room = -1;
		ctx->conns[i].peer = -1;
		ctx->conns[i].close_code = 1006;
	}
	return 0;
}

void wl_release(struct wl_ctx *ctx)
{
	int i;

	for (i = 0; i < ctx->nconns; i++) {
		struct wl_conn *c = &ctx->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->frag);
	}
	free(ctx->conns);
	free(ctx->dirty);
	free(ctx->scratch);
	if (ctx->ep >= 0)
		close(ctx->ep);
	ctx->conns = NULL;
	ctx->dirty = NULL;
	ctx->scratch = NULL;
	ctx->nconns = 0;
	ctx->ep = -1;
}

static void mark_dirty(struct wl_ctx *ctx, struct wl_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	ctx->dirty[ctx->ndirty++] = c->id;
}

void wl_drop(struct wl_ctx *ctx, struct wl_conn *c, int code)
{
	enum wl_state was = c->state;

	if (was == WL_CLOSED || was == WL_NEW)
		return;
	if (c->fd >= 0)
		close(c->fd);	/* also leaves the epoll set */
	c->fd = -1;
	c->state = WL_CLOSED;
	c->close_code = code;
	if (was == WL_OPEN) {
		ctx->open--;
		ctx->closed++;
		ctx->close_codes[code > 0 && code < WL_CLOSE_CODES ?
				 code : WL_CLOSE_CODES]++;
		if (ctx->ops->on_close)
			ctx->ops->on_close(ctx, c);
	} else {
		ctx->connecting--;
		ctx->failed++;
	}
}

int wl_start(struct wl_ctx *ctx, struct wl_conn *c, const char *token)
{
	struct epoll_event ev = { 0 };
	unsigned char raw[16];
	uint64_t r1 = wl_rand(), r2 = wl_rand();
	char req[1024 + 8192];
	int one = 1, fd, n;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		note(c, "socket", errno);
		goto fail;
	}
	/* Small frames must leave at once, not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ctx->src_count) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		/*
		 * Without this, bind() picks a port unique to the source
		 * address alone; with it, the port is picked at connect()
		 * for the whole 4-tuple.
		 */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		src.sin_addr.s_addr = htonl(ctx->src_first + c->id % ctx->src_count);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
			note(c, "bind", errno);
			goto fail;
		}
	}
	c->fd = fd;
	c->state = WL_CONNECTING;
	ctx->connecting++;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u32 = c->id;
	if (epoll_ctl(ctx->ep, EPOLL_CTL_ADD, fd, &ev)) {
		note(c, "epoll_ctl", errno);
		wl_drop(ctx, c, 1006);
		return -1;
	}
	memcpy(raw, &r1, 8);
	memcpy(raw + 8, &r2, 8);
	wl_b64(raw, sizeof(raw), c->key, 0);
	n = snprintf(req, sizeof(req),
		     "GET %s?token=%s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "\r\n", ctx->path, token, ctx->host, c->key);
	if (n < 0 || (size_t)n >= sizeof(req) || buf_put(&c->out, req, n)) {
		note(c, "upgrade request too long", 0);
		wl_drop(ctx, c, 1006);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ctx->dst, sizeof(ctx->dst)) == 0) {
		c->state = WL_HANDSHAKE;
		mark_dirty(ctx, c);
	} else if (errno != EINPROGRESS) {
		note(c, "connect", errno);
		wl_drop(ctx, c, 1006);
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	c->state = WL_CLOSED;
	ctx->failed++;
	return -1;
}

/* Queue a frame; clients mask every frame they send (RFC 6455 5.3). */
static int send_frame(struct wl_ctx *ctx, struct wl_conn *c, int op,
		      const char *p, size_t len)
{
	unsigned char h[14];
	uint32_t key = (uint32_t)wl_rand();
	unsigned char *m = (unsigned char *)&key, *dst;
	size_t hl, i;

	h[0] = 0x80 | op;
	if (len < 126) {
		h[1] = 0x80 | len;
		hl = 2;
	} else if (len < 65536) {
		h[1] = 0x80 | 126;
		h[2] = len >> 8;
		h[3] = len;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint64_t)len >> (56 - 8 * i);
		hl = 10;
	}
	memcpy(h + hl, m, 4);
	hl += 4;
	if (buf_reserve(&c->out, hl + len))
		return -1;
	memcpy(c->out.p + c->out.len, h, hl);
	dst = (unsigned char *)c->out.p + c->out.len + hl;
	for (i = 0; i < len; i++)
		dst[i] = p[i] ^ m[i & 3];
	c->out.len += hl + len;
	mark_dirty(ctx, c);
	return 0;
}

int wl_send_text(struct wl_ctx *ctx, struct wl_conn *c, const char *p, size_t len)
{
	if (c->state != WL_OPEN)
		return -1;
	return send_frame(ctx, c, 0x1, p, len);
}

/* Write what is queued; -1 when the connection was dropped. */
static int flush(struct wl_ctx *ctx, struct wl_conn *c)
{
	ssize_t n;

	while (c->out.off < c->out.len) {
		n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off,
			 MSG_NOSIGNAL);
		if (n > 0) {
			c->out.off += n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return 0;	/* EPOLLOUT will tell us when */
		} else {
			note(c, "write", n < 0 ? errno : 0);
			wl_drop(ctx, c, 1006);
			return -1;
		}
	}
	c->out.off = c->out.len = 0;
	return 0;
}

/* The value of header name in an upgrade response, copied into out. */
static int header(const char *h, size_t hl, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name), i, j;

	for (i = 0; i + 2 + nl < hl; i++) {
		if (h[i] != '\n' || strncasecmp(h + i + 1, name, nl) || h[i + 1 + nl] != ':')
			continue;
		i += 2 + nl;
		while (i < hl && (h[i] == ' ' || h[i] == '\t'))
			i++;
		for (j = 0; i < hl && h[i] != '\r' && h[i] != '\n' && j + 1 < len; j++)
			out[j] = h[i++];
		while (j > 0 && (out[j - 1] == ' ' || out[j - 1] == '\t'))
			j--;
		out[j] = '\0';
		return 0;
	}
	return -1;
}

/* Bytes of the upgrade response consumed, 0 for "need more", -1 refused. */
static long handshake(struct wl_ctx *ctx, struct wl_conn *c, char *p, size_t len)
{
	char want[32], got[64];
	char *end = memmem(p, len, "\r\n\r\n", 4);
	size_t hl;

	if (!end) {
		if (len > WL_HANDSHAKE_MAX)
			goto refused;
		return 0;
	}
	hl = end - p + 4;
	if (hl < 12 || memcmp(p, "HTTP/1.1 101", 12)) {
		/* Quote the status line: it says why (401, 502, ...). */
		char *eol = memchr(p, '\r', hl);

		if (notes_left > 0) {
			notes_left--;
			fprintf(stderr, "ws-load: connection %d: upgrade refused: %.*s\n",
				c->id, (int)(eol ? eol - p : 40), p);
		}
		goto refused_quiet;
	}
	wl_accept_for(c->key, want);
	if (header(p, hl, "Sec-WebSocket-Accept", got, sizeof(got)) || strcmp(got, want))
		goto refused;
	c->state = WL_OPEN;
	ctx->connecting--;
	ctx->open++;
	if (ctx->ops->on_open)
		ctx->ops->on_open(ctx, c);
	return hl;
refused:
	note(c, "bad upgrade response", 0);
refused_quiet:
	wl_drop(ctx, c, 1006);
	return -1;
}

static void deliver(struct wl_ctx *ctx, struct wl_conn *c, int op, char *p, size_t len)
{
	char saved = p[len];

	if (op != 0x1) {
		ctx->bad_frames++;	/* the protocol has text frames only */
		return;
	}
	/* The byte after the payload is ours to borrow for a NUL. */
	p[len] = '\0';
	if (ctx->ops->on_text)
		ctx->ops->on_text(ctx, c, p, len);
	p[len] = saved;
}

/* One whole frame; -1 when the connection ended. */
static int frame(struct wl_ctx *ctx, struct wl_conn *c, int fin, int op,
		 char *p, size_t len)
{
	unsigned char code[2];

	switch (op) {
	case 0x9:	/* ping: the pong carries the same payload */
		ctx->pings++;
		if (send_frame(ctx, c, 0xA, p, len))
			goto nomem;
		return 0;
	case 0xA:
		return 0;
	case 0x8:	/* close: echo the code, then hang up */
		if (len >= 2) {
			memcpy(code, p, 2);
			c->close_code = code[0] << 8 | code[1];
		} else {
			c->close_code = 1005;
		}
		send_frame(ctx, c, 0x8, p, len >= 2 ? 2 : 0);
		flush(ctx, c);
		wl_drop(ctx, c, c->close_code);
		return -1;
	case 0x1:
	case 0x2:
		if (c->frag_op)
			break;	/* a new message inside a fragmented one */
		if (fin) {
			deliver(ctx, c, op, p, len);
			return 0;
		}
		c->frag_op = op;
		c->frag.off = c->frag.len = 0;
		if (buf_put(&c->frag, p, len))
			goto nomem;
		return 0;
	case 0x0:
		if (!c->frag_op || c->frag.len + len > WL_FRAME_MAX)
			break;
		if (buf_put(&c->frag, p, len))
			goto nomem;
		if (fin) {
			deliver(ctx, c, c->frag_op, c->frag.p, c->frag.len);
			c->frag_op = 0;
			c->frag.len = 0;
		}
		return 0;
	}
	ctx->bad_frames++;
	note(c, "protocol error in server frames", 0);
	wl_drop(ctx, c, 1002);
	return -1;
nomem:
	note(c, "out of memory", 0);
	wl_drop(ctx, c, 1006);
	return -1;
}

/*
 * Consume what p holds: the upgrade response, then whole frames.
 * Returns the bytes consumed (a partial frame stays), or -1 when the
 * connection ended. p[len] must be writable.
 */
static long consume(struct wl_ctx *ctx, struct wl_conn *c, char *p, size_t len)
{
	size_t used = 0;

	if (c->state == WL_HANDSHAKE) {
		long n = handshake(ctx, c, p, len);

		if (n <= 0)
			return n;
		used = n;
	}
	while (c->state == WL_OPEN && len - used >= 2) {
		unsigned char *b = (unsigned char *)p + used;
		size_t avail = len - used, hl = 2, i;
		uint64_t plen = b[1] & 0x7f;
		int masked = b[1] & 0x80;

		if (plen == 126) {
			if (avail < 4)
				break;
			plen = b[2] << 8 | b[3];
			hl = 4;
		} else if (plen == 127) {
			if (avail < 10)
				break;
			for (plen = 0, i = 0; i < 8; i++)
				plen = plen << 8 | b[2 + i];
			hl = 10;
		}
		if (plen > WL_FRAME_MAX) {
			ctx->bad_frames++;
			note(c, "server frame too large", 0);
			wl_drop(ctx, c, 1009);
			return -1;
		}
		if (masked)
			hl += 4;
		if (avail < hl + plen)
			break;
		if (masked)	/* servers must not mask, but tolerate it */
			for (i = 0; i < plen; i++)
				b[hl + i] ^= b[hl - 4 + (i & 3)];
		used += hl + plen;
		if (frame(ctx, c, b[0] & 0x80, b[0] & 0x0f, (char *)b + hl, plen))
			return -1;
	}
	return used;
}

/*
 * Read until the socket is empty (edge-triggered); -1 when dropped.
 * A short read means the receive queue was empty, and bytes that come
 * later raise a new edge, so the extra read() that would only return
 * EAGAIN is skipped: a third fewer system calls under load. Not when the
 * peer hung up: the end of file must still be read.
 */
static int readable(struct wl_ctx *ctx, struct wl_conn *c, uint32_t events)
{
	struct wl_buf *in = &c->in;
	ssize_t n;
	long used;

	for (;;) {
		n = read(c->fd, ctx->scratch, WL_SCRATCH);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			if (n < 0 || c->state != WL_OPEN)
				note(c, n < 0 ? "read" : "closed by the server",
				     n < 0 ? errno : 0);
			wl_drop(ctx, c, c->close_code);
			return -1;
		}
		if (in->len == in->off) {
			/* the common case: nothing pending, parse in place */
			used = consume(ctx, c, ctx->scratch, n);
			if (used < 0)
				return -1;
			if (used < n && buf_put(in, ctx->scratch + used, n - used))
				goto nomem;
		} else {
			if (buf_put(in, ctx->scratch, n))
				goto nomem;
			used = consume(ctx, c, in->p + in->off, in->len - in->off);
			if (used < 0)
				return -1;
			in->off += used;
			if (in->off == in->len)
				in->off = in->len = 0;
		}
		if (n < WL_SCRATCH && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return 0;
	}
nomem:
	note(c, "out of memory", 0);
	wl_drop(ctx, c, 1006);
	return -1;
}

static void event(struct wl_ctx *ctx, struct wl_conn *c, uint32_t events)
{
	if (c->state == WL_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			note(c, "connect", err);
			wl_drop(ctx, c, 1006);
			return;
		}
		c->state = WL_HANDSHAKE;
		mark_dirty(ctx, c);
	}
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && readable(ctx, c, events))
		return;
	if (events & EPOLLOUT)
		flush(ctx, c);
}

int wl_poll(struct wl_ctx *ctx, int timeout_ms)
{
	struct epoll_event ev[WL_EVENTS];
	int n, i;

	n = epoll_wait(ctx->ep, ev, WL_EVENTS, timeout_ms);
	if (n < 0 && errno != EINTR) {
		perror("ws-load: epoll_wait");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct wl_conn *c = &ctx->conns[ev[i].data.u32];

		/* A connection dropped earlier in this batch has no fd now. */
		if (c->state != WL_CLOSED && c->state != WL_NEW)
			event(ctx, c, ev[i].events);
	}
	/* One write per connection per pass, however many frames it queued. */
	for (i = 0; i < ctx->ndirty; i++) {
		struct wl_conn *c = &ctx->conns[ctx->dirty[i]];

		c->dirty = 0;
		if (c->state == WL_HANDSHAKE || c->state == WL_OPEN)
			flush(ctx, c);
	}
	ctx->ndirty = 0;
	return n < 0 ? 0 : n;
}
