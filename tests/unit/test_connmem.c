/* connmem: slabs for what connections keep, lws's allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "connmem.h"

static int setup(void **state)
{
	char err[128];

	(void)state;
	return connmem_init(64, err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	connmem_release();
	return 0;
}

/* Is the page holding p resident? */
static int resident(const void *p)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)(pg - 1));

	assert_int_equal(mincore(page, (size_t)pg, &v), 0);
	return v & 1;
}

static void test_slabs_by_reason(void **state)
{
	void *wsi, *ws, *other, *again;

	(void)state;
	wsi = connmem_realloc(NULL, 952, "new server wsi");
	ws = connmem_realloc(NULL, 224, "ws struct");
	other = connmem_realloc(NULL, 952, "context");	/* not per connection */
	assert_non_null(wsi);
	assert_non_null(ws);
	assert_non_null(other);
	assert_int_equal(connmem_in_use(), 2);
	memset(wsi, 0xab, 952);
	memset(other, 0xcd, 952);
	/* freed slots are reused, last freed first */
	assert_null(connmem_realloc(wsi, 0, "lws_free"));
	assert_int_equal(connmem_in_use(), 1);
	again = connmem_realloc(NULL, 950, "new server wsi");
	assert_ptr_equal(again, wsi);
	/* a malloc'd block is freed and resized by malloc */
	other = connmem_realloc(other, 4000, "whatever");
	assert_non_null(other);
	assert_int_equal(((unsigned char *)other)[951], 0xcd);
	connmem_realloc(other, 0, "lws_free");
	connmem_realloc(again, 0, "lws_free");
	connmem_realloc(ws, 0, "lws_free");
	assert_int_equal(connmem_in_use(), 0);
}

static void test_resize_keeps_bytes(void **state)
{
	unsigned char *p, *q;

	(void)state;
	p = connmem_realloc(NULL, 100, "user space");
	for (int i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	/* within the slot: the same block */
	assert_ptr_equal(connmem_realloc(p, 110, "user space"), p);
	/* bigger: moved, the bytes with it */
	q = connmem_realloc(p, 3000, "user space");
	assert_non_null(q);
	assert_ptr_not_equal(q, p);
	for (int i = 0; i < 100; i++)
		assert_int_equal(q[i], i);
	assert_int_equal(connmem_in_use(), 1);
	connmem_free(q);
	assert_int_equal(connmem_in_use(), 0);
}

/* A header table's pages leave RSS when it is freed. */
static void test_pages_given_back(void **state)
{
	char *ah;

	(void)state;
	ah = connmem_realloc(NULL, 12 * 1024, "ah data");
	assert_non_null(ah);
	memset(ah, 1, 12 * 1024);
	assert_true(resident(ah + 8192));
	connmem_realloc(ah, 0, "lws_free");
	assert_false(resident(ah + 8192));
	/* and the slot is usable again */
	assert_ptr_equal(connmem_realloc(NULL, 12 * 1024, "ah data"), ah);
	ah[12 * 1024 - 1] = 2;
	connmem_free(ah);
}

/* Past the reservation, blocks come from malloc: nothing fails. */
static void test_full_falls_back(void **state)
{
	enum { N = 2000 };	/* 64 connections reserved: ~1 MiB */
	static void *p[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		p[i] = connmem_realloc(NULL, 12 * 1024, "ah data");
		assert_non_null(p[i]);
		((char *)p[i])[0] = 1;
	}
	assert_true(connmem_in_use() < N);
	for (int i = 0; i < N; i++)
		connmem_free(p[i]);
	assert_int_equal(connmem_in_use(), 0);
}

static void test_zalloc(void **state)
{
	unsigned char *c;

	(void)state;
	c = connmem_zalloc(248);
	memset(c, 0xff, 248);
	connmem_free(c);
	c = connmem_zalloc(248);	/* the same slot, zeroed again */
	for (int i = 0; i < 248; i++)
		assert_int_equal(c[i], 0);
	connmem_free(c);
	connmem_free(NULL);
}

/* Without connmem_init everything is malloc (the unit tests of conn). */
static void test_uninitialised(void **state)
{
	void *p;

	(void)state;
	connmem_release();
	p = connmem_zalloc(64);
	assert_non_null(p);
	assert_int_equal(connmem_in_use(), 0);
	connmem_free(p);
	p = connmem_realloc(NULL, 952, "new server wsi");
	assert_non_null(p);
	assert_int_equal(connmem_in_use(), 0);
	connmem_realloc(p, 0, "lws_free");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slabs_by_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_keeps_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages_given_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zalloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uninitialised, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
