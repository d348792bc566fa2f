/* ctl: the files under .dswfs/: counters, the last failure, the effective configuration. */
#include <errno.h>
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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct err_info last_error;
static int have_error;
static char *config_text;

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

void ctl_record_error(const struct err_info *e)
{
	char line[1024];

	err_format(e, line, sizeof(line));
	log_msg(LOG_ERROR, "%s", line);
	pthread_mutex_lock(&lock);
	last_error = *e;
	have_error = 1;
	pthread_mutex_unlock(&lock);
}

void ctl_clear_error(void)
{
	pthread_mutex_lock(&lock);
	have_error = 0;
	pthread_mutex_unlock(&lock);
}

void ctl_set_config(const char *text)
{
	char *copy = text ? strdup(text) : NULL;

	pthread_mutex_lock(&lock);
	free(config_text);
	config_text = copy;
	pthread_mutex_unlock(&lock);
}

char *ctl_render(enum ctl_file f, const char *extra, size_t *len)
{
	char text[4096];
	struct buf b;
	int rc = 0;

	buf_init(&b, 1 << 20);
	switch (f) {
	case CTL_CONFIG:
		pthread_mutex_lock(&lock);
		rc = buf_puts(&b, config_text ? config_text : "");
		pthread_mutex_unlock(&lock);
		break;
	case CTL_LAST_ERROR:
		pthread_mutex_lock(&lock);
		if (have_error)
			err_format_long(&last_error, text, sizeof(text));
		else
			text[0] = 0;
		pthread_mutex_unlock(&lock);
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
