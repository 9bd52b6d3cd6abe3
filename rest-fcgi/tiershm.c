#include "tiershm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t tiershm_hash(uint64_t h, const char *s)
{
	for (;; s++) {
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
		if (!*s)
			return h;
	}
}

int tiershm_map(const char *path, const char *setting, size_t size, uint64_t magic,
		uint64_t layout, void (*init)(void *p, void *arg), void *arg, void **out,
		char *err, size_t errlen)
{
	struct stat st, now;
	struct tiershm_head *h;
	void *p;

	*out = NULL;
	for (int attempt = 0; attempt < 4; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0) {
			snprintf(err, errlen, "%s: cannot open '%s': %s", setting, path,
				 strerror(errno));
			return -1;
		}
		/* one worker at a time sets the file up; the others wait here */
		if (flock(fd, LOCK_EX) || fstat(fd, &st)) {
			snprintf(err, errlen, "%s: '%s': %s", setting, path, strerror(errno));
			close(fd);
			return -1;
		}
		/* unlinked (a layout change) while we waited: open the new one */
		if (stat(path, &now) || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
			close(fd);
			continue;
		}
		if (st.st_size != 0 && (size_t)st.st_size != size) {
			unlink(path);
			close(fd);
			continue;
		}
		if (st.st_size == 0 && ftruncate(fd, (off_t)size)) {
			snprintf(err, errlen, "%s: cannot size '%s': %s", setting, path,
				 strerror(errno));
			close(fd);
			return -1;
		}
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errlen, "%s: cannot map '%s': %s", setting, path,
				 strerror(errno));
			close(fd);
			return -1;
		}
		h = p;
		if (h->magic == magic && h->layout != layout) {
			munmap(p, size);
			unlink(path);
			close(fd);
			continue;
		}
		if (h->magic != magic) {	/* a new file: zeroes, then the header */
			h->layout = layout;
			if (init)
				init(p, arg);
			__atomic_store_n(&h->magic, magic, __ATOMIC_RELEASE);
		}
		/*
		 * The mapping holds the open file, and with it the lock:
		 * released by hand, or the next worker would wait forever.
		 */
		flock(fd, LOCK_UN);
		close(fd);
		*out = p;
		return 0;
	}
	snprintf(err, errlen, "%s: '%s' keeps changing under us", setting, path);
	return -1;
}
