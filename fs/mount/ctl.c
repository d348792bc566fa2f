/* ctl: the files under .dswfs/: counters, the last failure, the effective configuration. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ctl.h"
#include "log.h"
#include "stats.h"

static const char *const names[CTL__COUNT] = {
	[CTL_CONFIG] = "config", [CTL_LAST_ERROR] = "last_error", [CTL_REFRESH] = "refresh",
	[CTL_STATS] = "stats", [CTL_VERSION] = "version",
};

struct ctl {
	pthread_mutex_t lock;
	struct err_info last_error;
	bool have_error;
	char *config_text;
	/* Failures recorded, by API Code ("" for none), for .dswfs/metrics. Bounded: codes past
	 * CTL_MAX_CODES count under CTL_OTHER_CODE. */
	struct { char code[96]; uint64_t n; } codes[CTL_MAX_CODES];
	size_t ncodes;
};

struct ctl *ctl_new(void)
{
	struct ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->config_text);
	free(c);
}

int ctl_lookup(const char *name)
{
	for (int i = 0; i < CTL__COUNT; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -ENOENT;
}

const char *ctl_name(enum ctl_file f)
{
	return names[f];
}

bool ctl_writable(enum ctl_file f)
{
	return f == CTL_REFRESH;
}

void ctl_record_error(struct ctl *c, const struct err_info *e)
{
	char line[1024];

	err_format(e, line, sizeof(line));
	log_msg(LOG_ERROR, "%s", line);
	pthread_mutex_lock(&c->lock);
	c->last_error = *e;
	c->have_error = true;
	if (e->err) {
		const char *code = e->code;
		size_t i;

		for (i = 0; i < c->ncodes && strcmp(c->codes[i].code, code); i++)
			;
		if (i == c->ncodes && c->ncodes == CTL_MAX_CODES) {
			code = CTL_OTHER_CODE;
			for (i = 0; i < c->ncodes && strcmp(c->codes[i].code, code); i++)
				;
			if (i == c->ncodes)
				i = CTL_MAX_CODES - 1;	/* the last slot becomes the catch-all */
			snprintf(c->codes[i].code, sizeof(c->codes[i].code), "%s", code);
		} else if (i == c->ncodes) {
			snprintf(c->codes[i].code, sizeof(c->codes[i].code), "%s", code);
			c->codes[i].n = 0;
			c->ncodes++;
		}
		c->codes[i].n++;
	}
	pthread_mutex_unlock(&c->lock);
}

size_t ctl_error_codes(struct ctl *c, char (*codes)[96], uint64_t *counts, size_t max)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->ncodes < max ? c->ncodes : max;
	for (size_t i = 0; i < n; i++) {
		memcpy(codes[i], c->codes[i].code, sizeof(codes[i]));
		counts[i] = c->codes[i].n;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

int ctl_set_config(struct ctl *c, const char *text)
{
	char *copy = NULL;

	if (text) {
		copy = strdup(text);
		if (!copy)
			return -ENOMEM;
	}
	pthread_mutex_lock(&c->lock);
	free(c->config_text);
	c->config_text = copy;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

char *ctl_render(struct ctl *c, enum ctl_file f, const char *extra, size_t *len)
{
	char text[4096];
	struct buf b;
	int rc = 0;

	buf_init(&b, 1 << 20);
	switch (f) {
	case CTL_CONFIG:
		pthread_mutex_lock(&c->lock);
		rc = buf_puts(&b, c->config_text ? c->config_text : "");
		pthread_mutex_unlock(&c->lock);
		break;
	case CTL_LAST_ERROR:
		pthread_mutex_lock(&c->lock);
		if (c->have_error)
			err_format_long(&c->last_error, text, sizeof(text));
		else
			text[0] = 0;
		pthread_mutex_unlock(&c->lock);
		rc = buf_puts(&b, text);
		break;
	case CTL_REFRESH:
		break;
	case CTL_STATS:
		for (int i = 0; i < STATS__COUNT && rc == 0; i++)
			rc = buf_printf(&b, "%s %lld\n", stats_name((enum stats_id)i),
					(long long)stats_get((enum stats_id)i));
		if (rc == 0 && extra)
			rc = buf_puts(&b, extra);
		break;
	case CTL_VERSION:
		rc = buf_printf(&b, "dswfs %s\n", DSWFS_VERSION);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, len);
}
