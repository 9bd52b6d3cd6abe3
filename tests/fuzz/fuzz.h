/*
 * fuzz - what the libFuzzer harnesses of tests/fuzz/ share (header only).
 *
 * A harness is one fuzz_<target>.c defining LLVMFuzzerTestOneInput() and
 * usually LLVMFuzzerInitialize(). Besides the sanitizers (ASan, UBSan,
 * LeakSanitizer) it checks invariants of what the parser accepted with
 * FUZZ_CHECK(): a broken one aborts, and libFuzzer saves the input as a
 * crash like any other. docs/fuzzing.md says how to run and reproduce.
 */
#ifndef CHAT_FUZZ_H
#define CHAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"
#include "uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant: on failure say which, then abort (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",        \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

/* 1 when s is a NUL-terminated string of valid UTF-8 (utf8.h). */
static inline int fuzz_utf8(const char *s)
{
	return utf8_chars(s, strlen(s)) >= 0;
}

/* id is in the text form uuid_norm() gives. */
static inline void fuzz_check_uuid(const char *id)
{
	char norm[UUID_STR_SIZE];

	FUZZ_CHECK(!uuid_norm(id, norm) && !strcmp(norm, id));
}

/* ids are normalised and distinct (parsers de-duplicate id lists). */
static inline void fuzz_check_ids(char (*ids)[UUID_STR_SIZE], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fuzz_check_uuid(ids[i]);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(ids[i], ids[j]));
	}
}

/*
 * A cursor over the fuzz input that hands out NUL-terminated fields: the
 * bytes up to the next NUL (or the end). Seeds are then plain files with
 * fields separated by NUL bytes (printf 'a\0b\0c'). Each field is a
 * malloc'd copy, so ASan sees reads past its end.
 */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

/* The next field as a new NUL-terminated string (free it), never NULL. */
static inline char *fuzz_field(struct fuzz_in *in, size_t *len)
{
	const uint8_t *nul = memchr(in->p, '\0', in->left);
	size_t n = nul ? (size_t)(nul - in->p) : in->left;
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n + (nul != NULL);
	in->left -= n + (nul != NULL);
	if (len)
		*len = n;
	return s;
}

/* The rest of the input as a malloc'd copy of exactly *len bytes. */
static inline char *fuzz_rest(struct fuzz_in *in, size_t *len)
{
	char *s = malloc(in->left ? in->left : 1);

	if (!s)
		abort();
	memcpy(s, in->p, in->left);
	*len = in->left;
	in->p += in->left;
	in->left = 0;
	return s;
}

/*
 * A file to hand a loader that only takes a path (jwks_load,
 * moderation_load): a memfd, reached as /proc/self/fd/N. fuzz_file_set()
 * replaces its contents; path stays valid for the process.
 */
struct fuzz_file {
	int fd;
	char path[64];
};

static inline void fuzz_file_open(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static inline void fuzz_file_set(struct fuzz_file *f, const void *data, size_t len)
{
	const char *p = data;

	if (ftruncate(f->fd, 0) || lseek(f->fd, 0, SEEK_SET))
		abort();
	while (len) {
		ssize_t n = write(f->fd, p, len);

		if (n <= 0)
			abort();
		p += n;
		len -= (size_t)n;
	}
}

/* Quiet logs: a fuzzer runs millions of inputs; only errors are worth a line. */
static inline void fuzz_quiet(const char *prog)
{
	log_init(prog, LOG_ERROR);
}

#endif
