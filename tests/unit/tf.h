/* tf: the project's tiny C test framework (register with TEST, assert with CHECK*). */
#ifndef DSWFS_TF_H
#define DSWFS_TF_H

#include <stddef.h>
#include <string.h>

typedef void (*tf_fn)(void);

/* Registers a test; called from the constructors TEST() generates. */
void tf_register(const char *name, tf_fn fn);

/* Records a failed check in the running test (it goes on, so one run shows every failure). */
void tf_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Marks the running test skipped, with a reason. Return from the test after calling it. */
void tf_skip(const char *reason);

#define TEST(fn)                                                               \
	static void fn(void);                                                  \
	__attribute__((constructor)) static void tf_reg_##fn(void)             \
	{                                                                      \
		tf_register(#fn, fn);                                          \
	}                                                                      \
	static void fn(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			tf_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);       \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		long long tf_a_ = (long long)(a), tf_b_ = (long long)(b);      \
		if (tf_a_ != tf_b_)                                            \
			tf_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
				#a, tf_a_, #b, tf_b_);                         \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                   \
		const char *tf_a_ = (a), *tf_b_ = (b);                         \
		if (!tf_a_ || !tf_b_ || strcmp(tf_a_, tf_b_) != 0)             \
			tf_fail(__FILE__, __LINE__, "%s is \"%s\", expected \"%s\"", \
				#a, tf_a_ ? tf_a_ : "(null)", tf_b_ ? tf_b_ : "(null)"); \
	} while (0)

#endif
