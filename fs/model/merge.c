/* merge: several regions' answers as one, names kept distinct, and the note on their state. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "merge.h"
#include "query.h"
#include "render.h"
#include "snap.h"

/* Rounds of moving colliding names aside before giving up (each round leaves only names that
 * collide again after a fresh hash suffix: none in practice). */
#define MERGE_ROUNDS 16

struct named {
	const char *name;
	size_t k;
};

static int cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->k > y->k) - (x->k < y->k);
}

/* The sorted (name, index) pairs of names[0..n). Caller frees; NULL on ENOMEM. */
static struct named *sorted(char *const *names, size_t n)
{
	struct named *v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		v[k].name = names[k];
		v[k].k = k;
	}
	qsort(v, n, sizeof(*v), cmp_named);
	return v;
}

/* "<raw InstanceId>@<label>" escaped as one name, the suffix kept whole; salt > 0 adds a hash of
 * the salt so a name that still collides moves aside. Returns a new string or NULL. */
static char *suffixed(struct snap *p, size_t i, const char *label, unsigned salt)
{
	char out[RENDER_NAME_MAX], suffix[96], num[QUERY_INT_TEXT];
	cJSON *keys = snap_parse_keys(p, i);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(keys, "InstanceId");
	const char *raw = snap_dirname(p, i);

	if (!keys)
		return NULL;
	if (cJSON_IsString(id) && id->valuestring)
		raw = id->valuestring;
	else if (query_int_text(id, num) == 0)
		raw = num;
	if (salt)
		snprintf(suffix, sizeof(suffix), "@%s~%08x", label,
			 (unsigned)((salt * 2654435761u) ^ (uint32_t)i));
	else
		snprintf(suffix, sizeof(suffix), "@%s", label);
	render_escape_name_suffix(raw, suffix, out);
	cJSON_Delete(keys);
	return strdup(out);
}

void merge_names_free(char **names, size_t n)
{
	for (size_t k = 0; names && k < n; k++)
		free(names[k]);
	free(names);
}

long merge_names(struct snap *const *parts, const char *const *labels, size_t nparts,
		 char ***out)
{
	size_t n = 0, k = 0, *part_of = NULL, *index_of = NULL;
	char **names = NULL;
	struct named *v = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	for (size_t p = 0; p < nparts; p++)
		n += snap_count(parts[p]);
	names = calloc(n ? n : 1, sizeof(*names));
	part_of = malloc((n ? n : 1) * sizeof(*part_of));
	index_of = malloc((n ? n : 1) * sizeof(*index_of));
	if (!names || !part_of || !index_of)
		goto out_fail;
	for (size_t p = 0; p < nparts; p++)
		for (size_t i = 0; i < snap_count(parts[p]); i++, k++) {
			part_of[k] = p;
			index_of[k] = i;
			names[k] = strdup(snap_dirname(parts[p], i));
			if (!names[k])
				goto out_fail;
		}
	/* An id several parts hold: every holder gets the suffixed name (as by-name does for a
	 * shared InstanceName), none keeps the bare one. */
	v = sorted(names, n);
	if (!v)
		goto out_fail;
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && strcmp(v[a].name, v[b].name) == 0; b++)
			;
		if (b - a < 2)
			continue;
		for (size_t j = a; j < b; j++) {
			size_t kk = v[j].k;
			char *s = suffixed(parts[part_of[kk]], index_of[kk], labels[part_of[kk]], 0);

			if (!s)
				goto out_fail;
			free(names[kk]);
			names[kk] = s;	/* v[j].name is stale now; v is rebuilt below */
		}
	}
	/* What still collides (a bare id that reads like a suffixed one): the first keeps its
	 * name, the others move aside. */
	for (unsigned round = 1;; round++) {
		bool moved = false;

		free(v);
		v = sorted(names, n);
		if (!v)
			goto out_fail;
		for (size_t j = 1; j < n; j++) {
			size_t kk = v[j].k;
			char *s;

			if (strcmp(v[j - 1].name, v[j].name) != 0)
				continue;
			if (round > MERGE_ROUNDS) {
				rc = -EEXIST;
				goto out_fail;
			}
			s = suffixed(parts[part_of[kk]], index_of[kk], labels[part_of[kk]], round);
			if (!s)
				goto out_fail;
			free(names[kk]);
			names[kk] = s;
			moved = true;
			break;	/* v is stale: sort again */
		}
		if (!moved)
			break;
	}
	free(v);
	free(part_of);
	free(index_of);
	*out = names;
	return (long)n;
out_fail:
	free(v);
	free(part_of);
	free(index_of);
	merge_names_free(names, n);
	return rc;
}

bool merge_complete(const struct merge_part *parts, size_t nparts)
{
	for (size_t p = 0; p < nparts; p++)
		if (!parts[p].snap)
			return false;
	return true;
}

int merge_snaps(const struct merge_part *parts, size_t nparts, struct snap **out)
{
	struct snap **have = calloc(nparts ? nparts : 1, sizeof(*have));
	const char **labels = calloc(nparts ? nparts : 1, sizeof(*labels));
	char **names = NULL, *note = NULL;
	size_t m = 0;
	time_t oldest = 0;
	long n = 0;
	int rc = -ENOMEM;

	if (!have || !labels)
		goto out;
	for (size_t p = 0; p < nparts; p++) {
		if (!parts[p].snap)
			continue;
		have[m] = parts[p].snap;
		labels[m++] = parts[p].region;
		if (!oldest || snap_fetched_at(parts[p].snap) < oldest)
			oldest = snap_fetched_at(parts[p].snap);
	}
	if (m == 0) {
		rc = -ENOENT;
		goto out;
	}
	n = merge_names(have, labels, m, &names);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	note = merge_note(parts, nparts);
	if (!note)
		goto out;
	rc = snap_merge(have, labels, m, (const char *const *)names, oldest, out);
	if (rc == 0 && snap_set_note(*out, note) != 0) {
		snap_unref(*out);
		*out = NULL;
		rc = -ENOMEM;
	}
out:
	free(note);
	merge_names_free(names, n > 0 ? (size_t)n : 0);
	free(have);
	free(labels);
	return rc;
}

static int list_ids(struct buf *b, const char *title, const struct merge_part *parts,
		    size_t nparts, bool missing)
{
	int rc = 0, any = 0;

	for (size_t p = 0; p < nparts && !rc; p++) {
		bool is = missing ? !parts[p].snap : parts[p].snap && parts[p].stale;

		if (!is)
			continue;
		rc = buf_printf(b, "%s %s", any++ ? "" : title, parts[p].region);
	}
	if (!rc && any)
		rc = buf_puts(b, "\n");
	return rc;
}

char *merge_note(const struct merge_part *parts, size_t nparts)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, 1 << 20);
	for (size_t p = 0; p < nparts && !rc; p++) {
		const struct merge_part *x = &parts[p];
		const char *err = x->error && *x->error ? x->error : "no answer";

		if (x->snap) {
			char when[32];
			time_t f = snap_fetched_at(x->snap);
			struct tm tm;

			gmtime_r(&f, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			rc = buf_printf(&b, "region %s %s instances %zu fetched_at %s", x->region,
					x->stale ? "stale" : "ok", snap_count(x->snap), when);
			if (!rc && x->stale)
				rc = buf_printf(&b, ": %s", err);
			if (!rc)
				rc = buf_puts(&b, "\n");
		} else {
			rc = buf_printf(&b, "region %s missing: %s\n", x->region, err);
		}
	}
	if (!rc)
		rc = buf_printf(&b, "complete %d\n", merge_complete(parts, nparts) ? 1 : 0);
	if (!rc)
		rc = list_ids(&b, "missing", parts, nparts, true);
	if (!rc)
		rc = list_ids(&b, "stale", parts, nparts, false);
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}
