/*
 * fuzz_evt - the event decoder between the tiers (shared/evt.c).
 *
 * Every ws-daemon decodes each ZeroMQ frame of its inbox with
 * evt_decode() (bus.c, through evt_sub_recv), so the input is one frame.
 * Over tcp:// only CURVE-authenticated peers reach the inbox, but the
 * decoder must still hold against any bytes. Checked besides the
 * sanitizers:
 *   - a refused frame has a reason and leaves nothing allocated in e;
 *   - an accepted event is plausible as evt.h promises: a known type,
 *     positive room_id and id, 0 <= prev < id, origin >= 0, user ids in
 *     uuid.h's text form (and so are the room event's lists);
 *   - it round-trips: evt_encode() of it decodes again to the same event
 *     (the daemons forward what they decoded, and peers must accept it).
 */
#include "evt.h"
#include "fuzz.h"
#include "uuid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_evt");
	return 0;
}

static void check_plausible(const struct evt *e)
{
	switch (e->type) {
	case EVT_ROOM:
		FUZZ_CHECK(e->room_id > 0);
		FUZZ_CHECK(e->deleted == 0 || e->deleted == 1);
		fuzz_check_ids(e->added, e->nadded);
		fuzz_check_ids(e->removed, e->nremoved);
		break;
	case EVT_DISCONNECT:
	case EVT_BAN:
		fuzz_check_uuid(e->user);
		break;
	case EVT_MESSAGE:
		FUZZ_CHECK(e->room_id > 0 && e->msg_id > 0);
		FUZZ_CHECK(e->prev_id >= 0 && e->prev_id < e->msg_id);
		FUZZ_CHECK(e->origin >= 0);
		FUZZ_CHECK(e->message && e->created_at);
		fuzz_check_uuid(e->user);
		break;
	case EVT_CONNECTED:
		FUZZ_CHECK(e->origin >= 0);
		fuzz_check_uuid(e->user);
		break;
	default:
		FUZZ_CHECK(!"unknown event type accepted");
	}
}

static void check_same_ids(char (*a)[UUID_STR_SIZE], size_t na,
			   char (*b)[UUID_STR_SIZE], size_t nb)
{
	FUZZ_CHECK(na == nb);
	for (size_t i = 0; i < na; i++)
		FUZZ_CHECK(!strcmp(a[i], b[i]));
}

/* evt_encode(e) decodes to an event equal to e. */
static void check_roundtrip(const struct evt *e)
{
	struct evt d;
	char err[256], *text;
	size_t len;

	text = evt_encode(e, &len);
	FUZZ_CHECK(text != NULL && strlen(text) == len);
	if (evt_decode(text, len, &d, err, sizeof(err))) {
		fprintf(stderr, "re-encoded event refused: %s\n%s\n", err, text);
		FUZZ_CHECK(!"an encoded event decodes");
	}
	FUZZ_CHECK(d.type == e->type && d.at_ms == e->at_ms);
	FUZZ_CHECK(d.room_id == e->room_id && d.deleted == e->deleted);
	check_same_ids(d.added, d.nadded, e->added, e->nadded);
	check_same_ids(d.removed, d.nremoved, e->removed, e->nremoved);
	FUZZ_CHECK(!strcmp(d.user, e->user));
	FUZZ_CHECK(d.msg_id == e->msg_id && d.prev_id == e->prev_id);
	FUZZ_CHECK(!e->message == !d.message && (!e->message || !strcmp(d.message, e->message)));
	FUZZ_CHECK(!e->created_at == !d.created_at &&
		   (!e->created_at || !strcmp(d.created_at, e->created_at)));
	FUZZ_CHECK(d.origin == e->origin && d.conn == e->conn);
	evt_release(&d);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), err[256];
	struct evt e;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	err[0] = '\0';
	if (evt_decode(buf, size, &e, err, sizeof(err))) {
		FUZZ_CHECK(err[0]);
		FUZZ_CHECK(!e.root && !e.added && !e.removed);
		goto out;
	}
	FUZZ_CHECK(e.root != NULL);
	check_plausible(&e);
	check_roundtrip(&e);
	evt_release(&e);
out:
	free(buf);
	return 0;
}
