/* metrics: Prometheus text for the daemon's counters and the fleet's gauges. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "snap.h"
#include "stats.h"

int metrics_family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int put_escaped(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_puts(b, "\\\\");
		else if (*s == '"')
			rc = buf_puts(b, "\\\"");
		else if (*s == '\n')
			rc = buf_puts(b, "\\n");
		else
			rc = buf_append(b, s, 1);
	}
	return rc;
}

int metrics_sample(struct buf *b, const char *name, const char *const *labels, size_t nlabels,
		   double value)
{
	int rc = buf_puts(b, name);

	for (size_t i = 0; i < nlabels && rc == 0; i++) {
		rc = buf_printf(b, "%s%s=\"", i ? "," : "{", labels[2 * i]);
		if (rc == 0)
			rc = put_escaped(b, labels[2 * i + 1]);
		if (rc == 0)
			rc = buf_puts(b, "\"");
	}
	if (rc == 0 && nlabels)
		rc = buf_puts(b, "}");
	if (rc)
		return rc;
	if (value == floor(value) && fabs(value) < 1e15)
		return buf_printf(b, " %.0f\n", value);
	return buf_printf(b, " %.17g\n", value);
}

int metrics_stats(struct buf *b)
{
	char name[128], help[160];
	int rc = 0;

	for (int i = 0; i < STATS__COUNT && rc == 0; i++) {
		bool gauge = stats_is_gauge((enum stats_id)i);

		snprintf(name, sizeof(name), "dswfs_%s%s", stats_name((enum stats_id)i),
			 gauge ? "" : "_total");
		snprintf(help, sizeof(help), "%s in .dswfs/stats", stats_name((enum stats_id)i));
		rc = metrics_family(b, name, gauge ? "gauge" : "counter", help);
		if (rc == 0)
			rc = metrics_sample(b, name, NULL, 0, (double)stats_get((enum stats_id)i));
	}
	return rc;
}

double metrics_quantity(const cJSON *v, int memory)
{
	static const struct {
		const char *suffix;
		double mul;
	} units[] = {
		{ "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
		{ "Ti", 1099511627776.0 }, { "K", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "T", 1e12 },
	};
	const char *s = NULL;
	char *end;
	double x;

	if (cJSON_IsNumber(v))
		x = v->valuedouble;
	else if (cJSON_IsString(v) && v->valuestring)
		s = v->valuestring, x = 0;
	else
		return -1;
	if (!cJSON_IsNumber(v)) {
		if (!*s || (*s != '.' && (*s < '0' || *s > '9')))
			return -1;
		x = strtod(s, &end);
		if (end == s)
			return -1;
		if (!*end) {
			/* a plain number */
		} else if (!memory && strcmp(end, "m") == 0) {
			return isfinite(x / 1000) ? x / 1000 : -1;
		} else if (memory) {
			size_t k;

			for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
				if (strcmp(end, units[k].suffix) == 0)
					break;
			if (k == sizeof(units) / sizeof(units[0]))
				return -1;
			x *= units[k].mul;
			return isfinite(x) && x >= 0 ? x : -1;
		} else {
			return -1;
		}
	}
	if (memory)
		x *= 1073741824.0;
	return isfinite(x) && x >= 0 ? x : -1;
}

/* A key member as label text: a string as it is, a number as JSON writes it, a boolean as
 * true/false; anything else (or absent) is "". Returns a malloc'd string or NULL. */
static char *label_text(const cJSON *m)
{
	char num[64];

	if (cJSON_IsString(m) && m->valuestring)
		return strdup(m->valuestring);
	if (cJSON_IsNumber(m)) {
		if (m->valuedouble == floor(m->valuedouble) && fabs(m->valuedouble) < 1e15)
			snprintf(num, sizeof(num), "%.0f", m->valuedouble);
		else
			snprintf(num, sizeof(num), "%.17g", m->valuedouble);
		return strdup(num);
	}
	if (cJSON_IsBool(m))
		return strdup(cJSON_IsTrue(m) ? "true" : "false");
	return strdup("");
}

struct row {
	char *l[4];		/* workspace_id, status, accelerator_type, payment_type */
	double cpu, gpu, mem;
};

static int row_cmp(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;

	for (int k = 0; k < 4; k++) {
		int c = strcmp(a->l[k], b->l[k]);

		if (c)
			return c;
	}
	return 0;
}

static bool same(const struct row *a, const struct row *b, int nkeys)
{
	for (int k = 0; k < nkeys; k++)
		if (strcmp(a->l[k], b->l[k]))
			return false;
	return true;
}

static double sum_of(const cJSON *rr, const char *name, int memory)
{
	double v = metrics_quantity(cJSON_GetObjectItemCaseSensitive(rr, name), memory);

	return v < 0 ? 0 : v;
}

int metrics_fleet(struct buf *b, const struct snap *s, const char *region)
{
	static const char *const keys[] = { "WorkspaceId", "Status", "AcceleratorType",
					     "PaymentType" };
	static const char *const lnames[] = { "workspace_id", "status", "accelerator_type",
					      "payment_type" };
	static const struct {
		const char *name, *help;
	} res[] = {
		{ "dswfs_requested_cpu_cores", "CPU cores requested (RequestedResource.CPU)" },
		{ "dswfs_requested_gpus", "GPUs requested (RequestedResource.GPU)" },
		{ "dswfs_requested_memory_bytes", "memory requested (RequestedResource.Memory)" },
	};
	size_t n = snap_count(s), i;
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	const char *labels[10];
	int rc = -ENOMEM;

	if (!rows)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		cJSON *inst = snap_parse(s, i);
		const cJSON *rr;
		bool ok = inst != NULL;

		for (int k = 0; k < 4 && ok; k++)
			ok = (rows[i].l[k] = label_text(cJSON_GetObjectItemCaseSensitive(
					inst, keys[k]))) != NULL;
		rr = cJSON_GetObjectItemCaseSensitive(inst, "RequestedResource");
		rows[i].cpu = sum_of(rr, "CPU", 0);
		rows[i].gpu = sum_of(rr, "GPU", 0);
		rows[i].mem = sum_of(rr, "Memory", 1);
		cJSON_Delete(inst);
		if (!ok) {
			i++;
			goto out;
		}
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	labels[0] = "region";
	labels[1] = region ? region : "";
	rc = metrics_family(b, "dswfs_instances", "gauge",
			    "instances of the base query (instances/) by their key members");
	for (size_t a = 0; a < n && rc == 0;) {
		size_t z = a;

		while (z < n && same(&rows[a], &rows[z], 4))
			z++;
		for (int k = 0; k < 4; k++) {
			labels[2 + 2 * k] = lnames[k];
			labels[3 + 2 * k] = rows[a].l[k];
		}
		rc = metrics_sample(b, "dswfs_instances", labels, 5, (double)(z - a));
		a = z;
	}
	for (size_t r = 0; r < 3 && rc == 0; r++) {
		rc = metrics_family(b, res[r].name, "gauge", res[r].help);
		for (size_t a = 0; a < n && rc == 0;) {
			double sum = 0;
			size_t z = a;

			for (; z < n && same(&rows[a], &rows[z], 2); z++)
				sum += r == 0 ? rows[z].cpu : r == 1 ? rows[z].gpu : rows[z].mem;
			for (int k = 0; k < 2; k++) {
				labels[2 + 2 * k] = lnames[k];
				labels[3 + 2 * k] = rows[a].l[k];
			}
			rc = metrics_sample(b, res[r].name, labels, 3, sum);
			a = z;
		}
	}
	i = n;
out:
	for (size_t k = 0; k < i; k++)
		for (int m = 0; m < 4; m++)
			free(rows[k].l[m]);
	free(rows);
	return rc;
}
