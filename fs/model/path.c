/* path: the mount's path grammar, turning a path into what it names and the query behind it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

/* Longest path the kernel passes (PATH_MAX with its NUL). */
#define PATH_LIMIT 4096

/* The root's entries. by-name came first and its place stays. */
static const char *const top[] = {
	"instances", "workspaces", "by-name", ".dswfs", "workspaces-by-name", "users",
	"users-by-name",
};

/* Link views: their directory and the directory their links point into. */
static const char *const view_dir[PATH_VIEW__COUNT] = {
	[PATH_VIEW_INSTANCES] = "by-name", [PATH_VIEW_WORKSPACES] = "workspaces-by-name",
	[PATH_VIEW_USERS] = "users-by-name",
};
static const char *const view_target[PATH_VIEW__COUNT] = {
	[PATH_VIEW_INSTANCES] = "instances", [PATH_VIEW_WORKSPACES] = "workspaces",
	[PATH_VIEW_USERS] = "users",
};

const char *path_top_entry(size_t i)
{
	return i < sizeof(top) / sizeof(top[0]) ? top[i] : NULL;
}

const char *path_view_dir(enum path_view v)
{
	return (unsigned)v < PATH_VIEW__COUNT ? view_target[v] : NULL;
}

bool path_component_ok(const char *s, size_t len)
{
	if (len == 0 || len > PATH_NAME_MAX || memchr(s, '/', len))
		return false;
	return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

/* A cursor over the components of an absolute path (all checked by check_path first). */
struct comp {
	const char *s;	/* start of the current component, NULL past the last */
	size_t len;
	const char *next;	/* start of the following component, or NULL at the end */
};

static void comp_at(struct comp *c, const char *s)
{
	const char *slash = strchr(s, '/');

	c->s = s;
	c->len = slash ? (size_t)(slash - s) : strlen(s);
	c->next = slash ? slash + 1 : NULL;
}

static void comp_advance(struct comp *c)
{
	if (c->next)
		comp_at(c, c->next);
	else
		c->s = NULL;
}

static bool comp_is(const struct comp *c, const char *name)
{
	return c->s && strlen(name) == c->len && memcmp(c->s, name, c->len) == 0;
}

/* The current component as a string in buf (PATH_NAME_MAX + 1 bytes). */
static const char *comp_str(const struct comp *c, char *buf)
{
	memcpy(buf, c->s, c->len);
	buf[c->len] = 0;
	return buf;
}

/* One pass over the whole path: -ENAMETOOLONG for a path or component beyond the kernel's
 * limits, -ENOENT for an empty, "." or ".." component (the kernel resolves those itself, so
 * their presence means the path did not come from it and names nothing). */
static int check_path(const char *path)
{
	const char *p = path + 1, *start = p;

	for (;; p++) {
		if (p - path >= PATH_LIMIT)
			return -ENAMETOOLONG;
		if (*p == '/' || !*p) {
			size_t len = (size_t)(p - start);

			if (len > PATH_NAME_MAX)
				return -ENAMETOOLONG;
			if (!path_component_ok(start, len))
				return -ENOENT;
			if (!*p)
				return 0;
			start = p + 1;
		}
	}
}

/* The path below a query directory's own components, starting at c (which may be past the
 * end). Filters are added deferred (*added counts them): the caller finishes the query once. */
static int parse_query_dir(struct comp *c, struct query *q, struct path_info *out, int *added)
{
	char buf[PATH_NAME_MAX + 1];
	int k, rc;

	for (;;) {
		if (!c->s) {
			out->node = PATH_QUERY_DIR;
			return 0;
		}
		k = query_key_lookup(comp_str(c, buf));
		if (k >= 0) {
			/* A key already used by this path (or a full set of labels/tags) has no
			 * directory: it could only lead to -EEXIST or -E2BIG. */
			if (!query_can_add(q, k))
				return -ENOENT;
			if (!c->next) {
				out->node = PATH_KEY_DIR;
				out->key = k;
				return 0;
			}
			comp_at(c, c->next);
			rc = query_add_deferred(q, k, comp_str(c, buf));
			if (rc)
				return rc == -ENOMEM ? rc : -ENOENT;
			(*added)++;
			comp_advance(c);
			continue;
		}
		if (comp_is(c, "instances.json") || comp_is(c, ".query") || comp_is(c, ".events")) {
			if (c->next)
				return -ENOENT;
			out->node = comp_is(c, ".query") ? PATH_QUERY_INFO :
				    comp_is(c, ".events") ? PATH_EVENTS : PATH_INSTANCES_JSON;
			return 0;
		}
		out->node = PATH_INSTANCE;
		if (c->next) {
			memcpy(out->name_buf, c->s, c->len);
			out->name_buf[c->len] = 0;
			out->name = out->name_buf;
			out->rest = c->next;
		} else {
			out->name = c->s;
			out->rest = c->s + c->len;
		}
		return 0;
	}
}

/* by-name/, workspaces-by-name/, users-by-name/, .dswfs/: a directory of plain entries. */
static int parse_flat(struct comp *c, enum path_node dir, enum path_node entry,
		      struct path_info *out)
{
	if (!c->next) {
		out->node = dir;
		return 0;
	}
	comp_at(c, c->next);
	if (c->next)
		return -ENOENT;
	out->node = entry;
	out->name = c->s;
	return 0;
}

int path_parse(const char *path, const struct query *base, struct path_info *out)
{
	char buf[PATH_NAME_MAX + 1];
	struct query *q = NULL;
	struct comp c;
	int rc, added = 0;

	memset(out, 0, sizeof(*out));
	if (!path || path[0] != '/')
		return -ENOENT;
	if (!path[1]) {
		out->node = PATH_ROOT;
		return 0;
	}
	rc = check_path(path);
	if (rc)
		return rc;
	comp_at(&c, path + 1);
	for (int v = 0; v < PATH_VIEW__COUNT; v++) {
		if (comp_is(&c, view_dir[v])) {
			out->view = v;
			return parse_flat(&c, PATH_LINK_DIR, PATH_LINK, out);
		}
	}
	if (comp_is(&c, ".dswfs"))
		return parse_flat(&c, PATH_CTL_DIR, PATH_CTL_FILE, out);
	if (comp_is(&c, "workspaces") || comp_is(&c, "users")) {
		out->key = comp_is(&c, "users") ? QK_CREATE_USER_ID : QK_WORKSPACE_ID;
		if (!c.next) {
			out->node = PATH_ID_DIR;
			return 0;
		}
	} else if (!comp_is(&c, "instances")) {
		return -ENOENT;
	}
	q = base ? query_dup(base) : query_new(NULL, NULL);
	if (!q)
		return -ENOMEM;
	if (!comp_is(&c, "instances")) {
		/* workspaces/<id>, users/<id>: the id must be one the API could have. */
		comp_at(&c, c.next);
		rc = query_add_deferred(q, out->key, comp_str(&c, buf));
		if (rc)
			goto out_fail;
		added++;
	}
	comp_advance(&c);
	rc = parse_query_dir(&c, q, out, &added);
	if (rc)
		goto out_fail;
	/* Most lookups (files of instances/<id>/) add nothing: the copy's strings are current. */
	rc = added ? query_finish(q) : 0;
	if (rc)
		goto out_fail;
	out->query = q;
	return 0;
out_fail:
	query_free(q);
	memset(out, 0, sizeof(*out));
	return rc == -ENOMEM || rc == -ENAMETOOLONG ? rc : -ENOENT;
}

void path_free(struct path_info *p)
{
	if (!p)
		return;
	query_free(p->query);
	p->query = NULL;
}

/* A hint about key k's value v, or 0. */
static int value_hint(enum query_key k, const char *v, char *buf, size_t size)
{
	const char *dir = query_key_dirname(k), *sug;

	if (!query_value_valid(k, v)) {
		sug = query_suggest_value(k, v);
		if (sug)
			snprintf(buf, size, "%s/%s names nothing: did you mean %s/%s?", dir, v, dir,
				 sug);
		else
			snprintf(buf, size, "%s/%s names nothing: not a valid %s value", dir, v, dir);
		return 1;
	}
	if (query_value_documented(k, v))
		return 0;
	sug = query_suggest_value(k, v);
	if (sug)
		snprintf(buf, size, "%s/%s: not a documented value (the server decides); did you "
			 "mean %s?", dir, v, sug);
	else
		snprintf(buf, size, "%s/%s: not a documented value (the server decides)", dir, v);
	return 1;
}

int path_hint(const char *path, char *buf, size_t size)
{
	char name[PATH_NAME_MAX + 1], value[PATH_NAME_MAX + 1];
	struct comp c;
	const char *sug;
	int k;

	if (!path || path[0] != '/' || !path[1] || check_path(path) || !size)
		return 0;
	comp_at(&c, path + 1);
	if (comp_is(&c, "workspaces") || comp_is(&c, "users")) {
		k = comp_is(&c, "users") ? QK_CREATE_USER_ID : QK_WORKSPACE_ID;
		if (!c.next)
			return 0;
		comp_at(&c, c.next);
		if (!query_value_valid(k, comp_str(&c, value))) {
			snprintf(buf, size, "%s/%s names nothing: %s", k == QK_CREATE_USER_ID ?
				 "users" : "workspaces", value, k == QK_CREATE_USER_ID ?
				 "a user id is decimal digits" :
				 "a workspace id is decimal digits (or ALL)");
			return 1;
		}
	} else if (!comp_is(&c, "instances")) {
		return 0;
	}
	for (comp_advance(&c); c.s; comp_advance(&c)) {
		comp_str(&c, name);
		k = query_key_lookup(name);
		if (k < 0) {
			/* An instance id is no key's typo; a misspelt key has no instance. */
			sug = query_suggest_key(name);
			if (!sug)
				return 0;
			snprintf(buf, size, "no filter key \"%s\": did you mean \"%s\"?", name, sug);
			return 1;
		}
		if (!c.next)
			return 0;
		comp_at(&c, c.next);
		if (value_hint(k, comp_str(&c, value), buf, size))
			return 1;
	}
	return 0;
}
