/* alloc_fail.h: malloc failure injection for unit tests; include from the test's own file only. */
#ifndef DSWFS_TESTS_ALLOC_FAIL_H
#define DSWFS_TESTS_ALLOC_FAIL_H

#include <stdlib.h>
#include <string.h>

#include "tf.h"

/* Allocation failure injection: the binary's own malloc family, which fails the n-th call once
 * armed and counts live blocks so leaks on error paths show without valgrind. Sanitizers bring
 * their own allocator, so there the test is skipped. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define ALLOC_SHIM 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long fail_countdown = -1;	/* calls to let through; -1: never fail */
static long live_blocks;

static int should_fail(void)
{
	if (fail_countdown < 0)
		return 0;
	return fail_countdown-- == 0;
}

void *malloc(size_t n)
{
	void *p = should_fail() ? NULL : __libc_malloc(n);

	live_blocks += p != NULL;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = should_fail() ? NULL : __libc_calloc(n, size);

	live_blocks += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (old && n == 0) {
		live_blocks--;
		return __libc_realloc(old, n);
	}
	p = should_fail() ? NULL : __libc_realloc(old, n);
	live_blocks += !old && p;
	return p;
}

void free(void *p)
{
	live_blocks -= p != NULL;
	__libc_free(p);
}
#endif

/* Runs scenario with the n-th allocation failing, for n = 0, 1, ... until one run needs no
 * failure; each run must fail cleanly (no leak, no crash; the scenario checks the rest). */
static void each_failure(void (*scenario)(void))
{
#ifdef ALLOC_SHIM
	const char *preload = getenv("LD_PRELOAD");

	/* valgrind takes over part of the malloc family, so the counts would not add up */
	if (preload && strstr(preload, "vgpreload")) {
		tf_skip("valgrind owns malloc");
		return;
	}
	for (long n = 0; n < 100000; n++) {
		long before = live_blocks, left;

		fail_countdown = n;
		scenario();
		left = fail_countdown;
		fail_countdown = -1;
		if (live_blocks != before)
			tf_fail(__FILE__, __LINE__, "failing allocation %ld leaks %ld blocks", n,
				live_blocks - before);
		if (left >= 0)
			return;	/* every allocation succeeded: all failure points are covered */
	}
	tf_fail(__FILE__, __LINE__, "scenario never completed");
#else
	(void)scenario;
	tf_skip("the sanitizer owns malloc");
#endif
}

#endif
