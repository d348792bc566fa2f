/* tf: runs the registered tests and prints PASS/FAIL/SKIP lines and a summary tests/run.sh reads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf.h"

#define TF_MAX 512

static struct {
	const char *name;
	tf_fn fn;
} tests[TF_MAX];
static size_t ntests;
static int cur_failed, cur_skipped;
static const char *prog = "test";

void tf_register(const char *name, tf_fn fn)
{
	if (ntests == TF_MAX) {
		fprintf(stderr, "tf: too many tests\n");
		abort();
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void tf_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	cur_failed++;
}

void tf_skip(const char *reason)
{
	fprintf(stdout, "  skipped: %s\n", reason);
	cur_skipped = 1;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	const char *slash = strrchr(argv[0], '/');

	prog = slash ? slash + 1 : argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		cur_failed = 0;
		cur_skipped = 0;
		tests[i].fn();
		if (cur_failed) {
			printf("FAIL: %s.%s\n", prog, tests[i].name);
			failed++;
		} else if (cur_skipped) {
			printf("SKIP: %s.%s\n", prog, tests[i].name);
			skipped++;
		} else {
			printf("PASS: %s.%s\n", prog, tests[i].name);
			passed++;
		}
	}
	printf("%s: %d passed, %d failed, %d skipped\n", prog, passed, failed, skipped);
	return failed ? 1 : 0;
}
