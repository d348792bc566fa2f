/* log: one-line diagnostics to stderr, one write() per line so threads never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

static volatile int max_level = LOG_WARN;

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&max_level, (int)lvl, __ATOMIC_RELAXED);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;
	int n;

	if ((int)lvl > __atomic_load_n(&max_level, __ATOMIC_RELAXED))
		return;
	n = snprintf(line, sizeof(line), "dswfs: %s: ", names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* A failed diagnostic write has nowhere better to be reported. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
