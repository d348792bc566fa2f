/* fuzz_events: two arbitrary answers (split at the first "\n--\n") diffed into event lines, which
 * must each be one JSON object naming its kind; the lines go through an event log (offsets,
 * retention, overflow) and the second answer through the fleet metrics. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "diff.h"
#include "evlog.h"
#include "metrics.h"
#include "snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *const fuzz_seeds[] = {
	"[{\"InstanceId\":\"dsw-a\",\"Status\":\"Running\",\"WorkspaceId\":1},{\"InstanceId\":\"dsw-b\"}]"
	"\n--\n"
	"[{\"InstanceId\":\"dsw-a\",\"Status\":\"Failed\",\"WorkspaceId\":\"1\",\"ImageAuth\":\"x\"},"
	"{\"InstanceId\":\"dsw-c\",\"RequestedResource\":{\"CPU\":\"500m\",\"GPU\":2,\"Memory\":\"8Gi\"}}]",
	"[{\"InstanceId\":\"a\",\"Status\":\"Running\",\"Status\":\"Failed\"}]\n--\n"
	"[{\"InstanceId\":\"a\",\"Status\":\"Failed\",\"X\":{\"Password\":\"p\"}}]",
	"[]\n--\n[{\"InstanceId\":\"x\\u0000y\",\"InstanceName\":\"\\n\",\"WorkspaceId\":\"\\\"\\\\\"}]",
	"[{\"InstanceId\":1}]\n--\nnull",
	"",
	NULL,
};

static struct snap *parse(const char *text, double stamp)
{
	cJSON *j = cJSON_Parse(text);
	struct snap *s = NULL;

	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		j = cJSON_CreateArray();
	}
	if (!j || snap_new(j, false, 1700000000, &s))
		return NULL;
	snap_set_stamp(s, stamp);
	return s;
}

struct ctx {
	struct snap *old, *new;
	struct evlog *log;
	size_t lines;
};

static int on_diff(void *p, enum diff_kind k, long i, long j)
{
	struct ctx *c = p;
	size_t len = 0;
	char *line = diff_event(c->old, i, c->new, j, k, "r\"\n", 0, &len);
	cJSON *ev;

	if (!line)
		return 0;	/* ENOMEM */
	if (strlen(line) != len || memchr(line, '\n', len))
		abort();
	ev = cJSON_Parse(line);
	if (!cJSON_IsObject(ev) || !cJSON_IsString(cJSON_GetObjectItem(ev, "kind")))
		abort();
	if ((k == DIFF_CHANGED) != (cJSON_GetObjectItem(ev, "fields") != NULL))
		abort();
	cJSON_Delete(ev);
	if (evlog_append(c->log, line, len) == 0)
		c->lines++;
	free(line);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *sep, buf[512];
	struct ctx c = { 0 };
	struct buf b;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	sep = strstr(text, "\n--\n");
	if (sep) {
		*sep = 0;
		c.new = parse(sep + 4, 2);
	} else {
		c.new = parse("[]", 2);
	}
	c.old = parse(text, 1);
	free(text);
	if (!c.old || !c.new || evlog_new(256, &c.log))
		goto out;
	if (diff_each(c.old, c.new, on_diff, &c) != 0)
		abort();
	if (evlog_lines(c.log) != c.lines || evlog_size(c.log) < evlog_start(c.log))
		abort();
	/* every offset reads, and the bytes of a read end where the log does */
	for (uint64_t off = 0; off < evlog_size(c.log); off += 61) {
		size_t n = evlog_read(c.log, off, buf, sizeof(buf));

		if (n != (evlog_size(c.log) - off < sizeof(buf) ? evlog_size(c.log) - off : sizeof(buf)))
			abort();
	}
	buf_init(&b, 1 << 24);
	(void)metrics_fleet(&b, c.new, "r");
	buf_free(&b);
out:
	evlog_free(c.log);
	if (c.old)
		snap_unref(c.old);
	if (c.new)
		snap_unref(c.new);
	return 0;
}
