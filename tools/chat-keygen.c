/*
 * chat-keygen - make a CURVE key pair for the event bus (shared/curve.h).
 *
 *	chat-keygen NAME
 *
 * writes NAME.key (the pair, mode 0600, for CHAT_EVT_KEY_FILE of the
 * process it belongs to) and NAME.pub (the public key alone, to list in the
 * inboxes' CHAT_EVT_ALLOWED_KEYS or the publishers' CHAT_EVT_INBOX_KEYS).
 * An existing file is never overwritten: rotating a key is a new NAME
 * (README, "Event bus keys").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curve.h"

/* Create path exclusively with mode and write text. 0 or -1 (printed). */
static int write_new(const char *path, int mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
	size_t n = strlen(text);

	if (fd < 0) {
		fprintf(stderr, "chat-keygen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) || close(fd)) {
		fprintf(stderr, "chat-keygen: %s: %s\n", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char key[512], pub[512], text[160], err[256];
	struct curve_pair kp;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: chat-keygen NAME   (writes NAME.key and NAME.pub)\n");
		return 2;
	}
	if (snprintf(key, sizeof(key), "%s.key", argv[1]) >= (int)sizeof(key) ||
	    snprintf(pub, sizeof(pub), "%s.pub", argv[1]) >= (int)sizeof(pub)) {
		fprintf(stderr, "chat-keygen: name too long\n");
		return 2;
	}
	if (curve_keypair(&kp, err, sizeof(err))) {
		fprintf(stderr, "chat-keygen: %s\n", err);
		return 1;
	}
	snprintf(text, sizeof(text), "public %s\nsecret %s\n", kp.pub, kp.sec);
	if (write_new(key, 0600, text))
		return 1;
	snprintf(text, sizeof(text), "%s\n", kp.pub);
	if (write_new(pub, 0644, text)) {
		unlink(key);
		return 1;
	}
	memset(&kp, 0, sizeof(kp));
	memset(text, 0, sizeof(text));
	printf("%s\n", pub);
	return 0;
}
