/* walk_rss: the memory model measured without FUSE: RSS growth of a tree walked in full. */
/*
 * Usage: walk_rss FLEET.json [WALKS [THREADS]]
 * FLEET.json holds the instances (an array, or {"Instances": [...]}, as the local server's
 * /fleet gives). The tree's fetch parses that file; every walk lists instances/, then getattrs,
 * lists and reads every file below it, THREADS threads sharing the instances. Prints one JSON
 * line: the compact size of the fleet, RSS before the first fetch, after it, after each walk.
 * Only tree.h is used, so the same source builds against any version of the tree. malloc is
 * tuned as dswfs's main tunes it. WALK_SKIP_JSON=1 leaves instances.json out of the walk.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "tree.h"

struct fleet {
	char *text;
	size_t compact;
};

struct walker {
	pthread_t th;
	struct tree *t;
	int k, n;
	size_t files, bytes;
	int rc;
};

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **out,
		 struct err_info *err)
{
	struct fleet *fl = ctx;
	cJSON *doc = cJSON_Parse(fl->text), *arr;

	(void)params; (void)n; (void)err;
	if (!doc)
		return -EBADMSG;
	arr = cJSON_IsArray(doc) ? doc : cJSON_DetachItemFromObject(doc, "Instances");
	if (arr != doc)
		cJSON_Delete(doc);
	*out = arr;
	return arr ? 0 : -EBADMSG;
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const struct tree_attr *a)
{
	struct names *nm = ctx;

	(void)a;
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? nm->cap * 2 : 64;
		char **v = realloc(nm->v, cap * sizeof(*v));

		if (!v)
			return 1;
		nm->v = v;
		nm->cap = cap;
	}
	nm->v[nm->n] = strdup(name);
	if (nm->v[nm->n])
		nm->n++;
	return 0;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

static int walk_path(struct walker *w, const char *path)
{
	struct names nm = { 0 };
	struct tree_attr a;
	char buf[65536], *child;
	int rc = tree_getattr(w->t, path, &a);

	if (rc)
		return rc;
	if (a.type == TREE_FILE) {
		struct tree_file *f;
		off_t off = 0;
		size_t got;

		rc = tree_open(w->t, path, &f);
		if (rc)
			return rc;
		while ((got = tree_read(f, buf, sizeof(buf), off)) > 0) {
			off += (off_t)got;
			w->bytes += got;
		}
		tree_close(f);
		w->files++;
		return 0;
	}
	if (a.type != TREE_DIR)
		return 0;
	rc = tree_readdir(w->t, path, collect, &nm);
	for (size_t i = 0; !rc && i < nm.n; i++) {
		if (asprintf(&child, "%s/%s", path, nm.v[i]) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = walk_path(w, child);
		free(child);
	}
	names_free(&nm);
	return rc;
}

static void *walker_main(void *p)
{
	struct walker *w = p;
	struct names nm = { 0 };
	char *path;

	w->rc = tree_readdir(w->t, "/instances", collect, &nm);
	for (size_t i = 0; !w->rc && i < nm.n; i++) {
		if ((int)(i % (size_t)w->n) != w->k || (getenv("WALK_SKIP_JSON") && !strcmp(nm.v[i], "instances.json")))
			continue;
		if (asprintf(&path, "/instances/%s", nm.v[i]) < 0) {
			w->rc = -ENOMEM;
			break;
		}
		w->rc = walk_path(w, path);
		free(path);
	}
	names_free(&nm);
	return NULL;
}

static char *slurp(const char *file)
{
	FILE *f = fopen(file, "rb");
	char *s = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		s = malloc((size_t)n + 1);
		if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
			free(s);
			s = NULL;
		} else if (s) {
			s[n] = 0;
		}
	}
	fclose(f);
	return s;
}

int main(int argc, char **argv)
{
	struct fleet fl = { 0 };
	struct tree_config c = { .workspace_id = "ALL", .resource_id = "ALL", .ttl = 1e9,
				 .max_snapshots = 16, .fetch = fetch, .fetch_ctx = &fl };
	struct walker w[64];
	int walks = argc > 2 ? atoi(argv[2]) : 3, threads = argc > 3 ? atoi(argv[3]) : 1;
	struct tree *t;
	struct names nm = { 0 };
	long r0, r1;
	cJSON *doc;
	char *compact;

	/* As dswfs's main sets them (see there). */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 2);
	if (argc < 2 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: walk_rss FLEET.json [WALKS [THREADS<=64]]\n");
		return 2;
	}
	fl.text = slurp(argv[1]);
	doc = fl.text ? cJSON_Parse(fl.text) : NULL;
	if (!doc) {
		fprintf(stderr, "walk_rss: cannot read %s\n", argv[1]);
		return 1;
	}
	compact = cJSON_PrintUnformatted(cJSON_IsArray(doc) ? doc
					 : cJSON_GetObjectItem(doc, "Instances"));
	fl.compact = compact ? strlen(compact) : 0;
	free(compact);
	cJSON_Delete(doc);
	if (tree_new(&c, &t))
		return 1;
	/* The baseline holds no garbage of the set-up above. */
	malloc_trim(0);
	r0 = rss_kib();
	if (tree_readdir(t, "/instances", collect, &nm)) {
		fprintf(stderr, "walk_rss: listing failed\n");
		return 1;
	}
	r1 = rss_kib();
	printf("{\"instances\": %zu, \"compact_kib\": %zu, \"rss_before_kib\": %ld, "
	       "\"rss_fetched_kib\": %ld, \"walks\": [", nm.n ? nm.n - 1 : 0, fl.compact / 1024,
	       r0, r1);
	names_free(&nm);
	for (int k = 0; k < walks; k++) {
		size_t files = 0;
		long r;

		for (int i = 0; i < threads; i++) {
			memset(&w[i], 0, sizeof(w[i]));
			w[i].t = t;
			w[i].k = i;
			w[i].n = threads;
			pthread_create(&w[i].th, NULL, walker_main, &w[i]);
		}
		for (int i = 0; i < threads; i++) {
			pthread_join(w[i].th, NULL);
			files += w[i].files;
			if (w[i].rc)
				fprintf(stderr, "walk_rss: walk failed: %s\n", strerror(-w[i].rc));
		}
		r = rss_kib();
		/* What malloc holds free but has not given back, told apart from what is live. */
		malloc_trim(0);
		printf("%s{\"files\": %zu, \"rss_kib\": %ld, \"growth_over_compact\": %.2f, "
		       "\"rss_trimmed_kib\": %ld}", k ? ", " : "", files, r,
		       (double)(r - r0) * 1024 / (double)(fl.compact ?: 1), rss_kib());
	}
	printf("]}\n");
	tree_free(t);
	free(fl.text);
	return 0;
}
