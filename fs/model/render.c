/* render: an instance's JSON object as a tree of files (names escaped, secrets redacted). Pure. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "render.h"

/* Objects nested deeper than this many directories below the instance are rendered as
 * "<Member>.json" files instead (their content is also in instance.json). It bounds the
 * recursion and keeps every rendered path well inside PATH_MAX; real instances nest 3 deep. */
#define RENDER_MAX_DEPTH 32

/* ---- names ---- */

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static bool needs_escape(unsigned char c)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f;
}

/* Bytes of the UTF-8 sequence starting at s (1 for anything that is not a lead byte followed by
 * its continuation bytes), so a cut never splits a character. */
static size_t utf8_unit(const unsigned char *s)
{
	size_t want = s[0] >= 0xf0 && s[0] < 0xf8 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	size_t n = 1;

	if (s[0] >= 0xf8)
		return 1;
	while (n < want && (s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

/* render_escape_name with a suffix (".json") that is kept even when the name is cut. */
static void escape_with_suffix(const char *name, const char *suffix, char out[RENDER_NAME_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)(name ? name : "");
	size_t slen = strlen(suffix);
	size_t room = RENDER_NAME_MAX - 1 - slen;	/* for the escaped name itself */
	size_t cut_room = room - 9;			/* when "~" and 8 hex digits follow */
	size_t o = 0, cut = 0;

	if (!*p || strcmp((const char *)p, ".") == 0 || strcmp((const char *)p, "..") == 0) {
		snprintf(out, RENDER_NAME_MAX, "%s%s",
			 !*p ? "%00" : p[1] ? "%2E%2E" : "%2E", suffix);
		return;
	}
	while (*p) {
		char unit[4];
		size_t ulen;

		/* A leading '.' would hide the entry from ls and globs: escaped too. */
		if (p[0] == 0xC0 && p[1] == 0x80) {
			/* api.c decodes a JSON "\u0000" as C0 80 (never valid UTF-8): a NUL. */
			memcpy(unit, "%00", 3);
			ulen = 3;
			p += 2;
		} else if (needs_escape(*p) || (o == 0 && *p == '.')) {
			unit[0] = '%';
			unit[1] = hex[*p >> 4];
			unit[2] = hex[*p & 15];
			ulen = 3;
			p++;
		} else {
			ulen = utf8_unit(p);
			memcpy(unit, p, ulen);
			p += ulen;
		}
		if (o + ulen > room) {
			snprintf(out + cut, RENDER_NAME_MAX - cut, "~%08x%s",
				 (unsigned)fnv1a(name), suffix);
			return;
		}
		memcpy(out + o, unit, ulen);
		o += ulen;
		if (o <= cut_room)
			cut = o;
	}
	memcpy(out + o, suffix, slen + 1);
}

void render_escape_name(const char *name, char out[RENDER_NAME_MAX])
{
	escape_with_suffix(name, "", out);
}

void render_escape_name_suffix(const char *name, const char *suffix, char out[RENDER_NAME_MAX])
{
	escape_with_suffix(name, suffix, out);
}

/* ---- redaction ---- */

/* Replaces item (a member or element of parent) with the string RENDER_REDACTED, keeping its
 * name and place. */
static int replace_redacted(cJSON *parent, cJSON *item)
{
	cJSON *r = cJSON_CreateString(RENDER_REDACTED);

	if (!r)
		return -ENOMEM;
	r->string = item->string;
	r->type |= item->type & cJSON_StringIsConst;
	item->string = NULL;
	item->type &= ~cJSON_StringIsConst;
	cJSON_ReplaceItemViaPointer(parent, item, r);
	return 0;
}

/* Every non-null scalar below container, whatever its depth (cJSON's parser caps nesting). */
static int redact_leaves(cJSON *container)
{
	cJSON *it = container->child, *next;
	int rc = 0;

	for (; it && !rc; it = next) {
		next = it->next;
		if (cJSON_IsObject(it) || cJSON_IsArray(it))
			rc = redact_leaves(it);
		else if (!cJSON_IsNull(it))
			rc = replace_redacted(container, it);
	}
	return rc;
}

/* A secret member: containers keep their shape (redact_leaves); scalars are replaced. Null
 * stays null: there is nothing to hide and it renders as no file. */
static int redact_member(cJSON *inst, cJSON *m, bool keep_names_only)
{
	cJSON *it, *next;
	int rc = 0;

	if (cJSON_IsNull(m))
		return 0;
	if (keep_names_only && cJSON_IsObject(m)) {
		/* EnvironmentVariables: the names stay, every value goes, whatever its type. */
		for (it = m->child; it && !rc; it = next) {
			next = it->next;
			if (!cJSON_IsNull(it))
				rc = replace_redacted(m, it);
		}
		return rc;
	}
	if (cJSON_IsObject(m) || cJSON_IsArray(m))
		return redact_leaves(m);
	return replace_redacted(inst, m);
}

/* Parts of a member name that mark it secret wherever it sits (ServiceConfig's
 * CodeServerPassword, a UserInfo's SecurityToken or AccessKeyId, a future PrivateKey), so a new
 * field is hidden before anyone has listed it. The *Auth members (CodeServerAuth) name a mode
 * and contain none of these. */
static const char *const secret_parts[] = {
	"password", "secret", "token", "accesskey", "privatekey",
};

/* strcasestr without _GNU_SOURCE's locale: ASCII case folding only. */
static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool secret_name(const char *name)
{
	for (size_t i = 0; i < sizeof(secret_parts) / sizeof(secret_parts[0]); i++)
		if (contains_nocase(name, secret_parts[i]))
			return true;
	return false;
}

/* Finds the secret members at any depth: the API keeps them at the top of an instance, but
 * one that turns up nested (a future ServiceConfig's EnvironmentVariables) is no less secret.
 * Every member is checked, not just the first of a name, since a repeated member would still
 * be printed in instance.json; case-insensitively, to stay safe if casing drifts. */
static int redact_walk(cJSON *container)
{
	cJSON *m, *next;
	int rc = 0;

	for (m = container->child; m && !rc; m = next) {
		next = m->next;
		if (cJSON_IsObject(container) && m->string) {
			if (strcasecmp(m->string, "ImageAuth") == 0) {
				rc = cJSON_IsNull(m) ? 0 : replace_redacted(container, m);
				continue;
			}
			if (strcasecmp(m->string, "CredentialConfig") == 0) {
				rc = redact_member(container, m, false);
				continue;
			}
			if (strcasecmp(m->string, "EnvironmentVariables") == 0) {
				rc = redact_member(container, m, true);
				continue;
			}
			/* Whole, like ImageAuth: below an unknown secret member even the
			 * names may be secret (a map keyed by token). */
			if (secret_name(m->string)) {
				rc = cJSON_IsNull(m) ? 0 : replace_redacted(container, m);
				continue;
			}
		}
		if (cJSON_IsObject(m) || cJSON_IsArray(m))
			rc = redact_walk(m);
	}
	return rc;
}

cJSON *render_redact(const cJSON *inst, bool show_secrets)
{
	cJSON *copy;

	if (!inst)
		return NULL;
	copy = cJSON_Duplicate(inst, true);
	if (!copy || show_secrets)
		return copy;
	if (redact_walk(copy)) {
		cJSON_Delete(copy);
		return NULL;
	}
	return copy;
}

/* ---- scalars ---- */

char *render_json(const cJSON *item, size_t *len)
{
	char *s, *t;
	size_t n;

	if (!item)
		return NULL;
	s = cJSON_Print(item);
	if (!s)
		return NULL;
	n = strlen(s);
	/* cJSON allocates with malloc: dswfs never installs other hooks. */
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = 0;
	if (len)
		*len = n + 1;
	return t;
}

/* JSON numbers are doubles in cJSON. Integral values up to 2^53 (every integer a double holds
 * exactly: ids, milliseconds, counters) print as plain integers; anything else prints with the
 * fewest significant digits (15 to 17) that read back as the same double, in %g form ("0.5",
 * "1e+300"). Non-finite values cannot come from JSON text (cJSON turns 1e999 into inf): they
 * are treated as null, as cJSON_Print does. Returns false for those. */
static bool format_number(double d, char out[32])
{
	if (!isfinite(d))
		return false;
	if (d == trunc(d) && fabs(d) <= 9007199254740992.0) {
		snprintf(out, 32, "%.0f", d == 0 ? 0.0 : d);	/* no "-0" */
		return true;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return true;
}

/* A scalar's file content without its "\n": *p and *n (into numbuf for numbers). False for
 * what has no file (null, containers, non-finite numbers, raw or invalid items). */
static bool scalar_text(const cJSON *item, char numbuf[32], const char **p, size_t *n)
{
	if (cJSON_IsString(item) && item->valuestring) {
		*p = item->valuestring;
	} else if (cJSON_IsNumber(item)) {
		if (!format_number(item->valuedouble, numbuf))
			return false;
		*p = numbuf;
	} else if (cJSON_IsTrue(item)) {
		*p = "true";
	} else if (cJSON_IsFalse(item)) {
		*p = "false";
	} else {
		return false;
	}
	*n = strlen(*p);
	return true;
}

char *render_scalar(const cJSON *item, size_t *len)
{
	char numbuf[32], *out;
	const char *p;
	size_t n;

	if (!item || !scalar_text(item, numbuf, &p, &n))
		return NULL;
	out = malloc(n + 2);
	if (!out)
		return NULL;
	memcpy(out, p, n);
	out[n] = '\n';
	out[n + 1] = 0;
	if (len)
		*len = n + 1;
	return out;
}

/* A JSON string literal of s as cJSON reads it back byte for byte: quote, backslash and control
 * bytes escaped, everything else (UTF-8 or not) raw. */
static int compact_string(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int rc = buf_append(out, "\"", 1);

	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_append(out, run, (size_t)(s - run));
		if (!rc && (c == '"' || c == '\\')) {
			esc[1] = (char)c;
			rc = buf_append(out, esc, 2);
		} else if (!rc) {
			rc = buf_append(out, esc, 6);
		}
		run = s + 1;
	}
	if (!rc)
		rc = buf_append(out, run, (size_t)(s - run));
	return rc ? rc : buf_append(out, "\"", 1);
}

int render_compact(const cJSON *item, struct buf *out)
{
	char numbuf[32];
	const cJSON *m;
	int rc = 0;

	switch (item->type & 0xff) {
	case cJSON_False:
		return buf_puts(out, "false");
	case cJSON_True:
		return buf_puts(out, "true");
	case cJSON_Number:
		/* Exact: cJSON's own printer rounds to 15 digits when it thinks that is close
		 * enough, and a scalar file must show the double the server sent. */
		return buf_puts(out, format_number(item->valuedouble, numbuf) ? numbuf : "null");
	case cJSON_String:
		return compact_string(item->valuestring ? item->valuestring : "", out);
	case cJSON_Array:
	case cJSON_Object:
		rc = buf_append(out, cJSON_IsArray(item) ? "[" : "{", 1);
		for (m = item->child; m && !rc; m = m->next) {
			if (m != item->child)
				rc = buf_append(out, ",", 1);
			if (!rc && cJSON_IsObject(item)) {
				rc = compact_string(m->string ? m->string : "", out);
				if (!rc)
					rc = buf_append(out, ":", 1);
			}
			if (!rc)
				rc = render_compact(m, out);
		}
		return rc ? rc : buf_append(out, cJSON_IsArray(item) ? "]" : "}", 1);
	default:
		return buf_puts(out, "null");
	}
}

/* ---- the tree ---- */

/* A file's bytes, rendered on first use and published once (atomically). */
struct blob {
	size_t len;
	char data[];	/* len bytes and a NUL */
};

/* What a file node renders: a scalar member, a member as JSON ("<Member>.json"), the whole
 * object (instance.json). */
enum { KIND_SCALAR, KIND_JSON, KIND_WHOLE };

/* One allocation per node, header then payload:
 *   file:      p[0] the cJSON item (borrowed), p[1] its struct blob (atomic, NULL until read),
 *              then name, NUL
 *   directory: p[0..len) children (sorted by name), then name, NUL
 * Files hold no bytes until read: a tree costs its names and pointers, not its contents. */
struct render_node {
	uint32_t len;		/* directory: number of children; unused for files */
	uint8_t dir;
	uint8_t namelen;	/* names are at most 255 bytes */
	uint8_t kind;
	void *p[];
};

static char *node_name(const struct render_node *n)
{
	return (char *)(n->p + (n->dir ? n->len : 2));
}

static int new_file(const char *name, const cJSON *item, int kind, struct render_node **out)
{
	size_t nlen = strlen(name);
	struct render_node *n = malloc(sizeof(*n) + 2 * sizeof(void *) + nlen + 1);

	if (!n)
		return -ENOMEM;
	n->dir = 0;
	n->namelen = (uint8_t)nlen;
	n->kind = (uint8_t)kind;
	n->len = 0;
	n->p[0] = (void *)item;
	n->p[1] = NULL;
	memcpy(node_name(n), name, nlen + 1);
	*out = n;
	return 0;
}

void render_free(struct render_node *root)
{
	if (!root)
		return;
	if (root->dir)
		for (uint32_t i = 0; i < root->len; i++)
			render_free(root->p[i]);
	else
		free(root->p[1]);
	free(root);
}

struct pending {
	struct render_node *node;
	size_t order;	/* position among the members: the first of equal names wins */
};

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c = strcmp(node_name(x->node), node_name(y->node));

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int render_object(const cJSON *obj, const char *name, int depth, const cJSON *whole,
			 struct render_node **out);

/* The node for one member, or *out = NULL when it has none (null, unrenderable). */
static int render_member(const cJSON *m, int depth, struct render_node **out)
{
	char fname[RENDER_NAME_MAX], numbuf[32];
	const char *p;
	size_t n;

	*out = NULL;
	if (cJSON_IsObject(m) && depth < RENDER_MAX_DEPTH) {
		render_escape_name(m->string, fname);
		return render_object(m, fname, depth + 1, NULL, out);
	}
	if (cJSON_IsObject(m) || cJSON_IsArray(m)) {
		escape_with_suffix(m->string, ".json", fname);
		return new_file(fname, m, KIND_JSON, out);
	}
	if (!scalar_text(m, numbuf, &p, &n))
		return 0;
	render_escape_name(m->string, fname);
	return new_file(fname, m, KIND_SCALAR, out);
}

/* A directory for obj; with whole (the top level), an "instance.json" holding it comes first,
 * so no member can displace it. */
static int render_object(const cJSON *obj, const char *name, int depth, const cJSON *whole,
			 struct render_node **out)
{
	struct pending *kids;
	struct render_node *dir;
	const cJSON *m;
	size_t cap = whole ? 1 : 0, n = 0, keep = 0, nlen = strlen(name);
	int rc = 0;

	cJSON_ArrayForEach(m, obj)
		cap++;
	kids = calloc(cap ? cap : 1, sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	if (whole) {
		rc = new_file("instance.json", whole, KIND_WHOLE, &kids[0].node);
		if (!rc)
			n = 1;
	}
	cJSON_ArrayForEach(m, obj) {
		if (rc)
			break;
		rc = render_member(m, depth, &kids[n].node);
		if (!rc && kids[n].node) {
			kids[n].order = n;
			n++;
		}
	}
	if (rc)
		goto out_free;
	qsort(kids, n, sizeof(*kids), pending_cmp);
	for (size_t i = 0; i < n; i++) {
		if (keep && strcmp(node_name(kids[keep - 1].node), node_name(kids[i].node)) == 0) {
			render_free(kids[i].node);	/* a later member with a taken name */
			continue;
		}
		kids[keep++] = kids[i];
	}
	n = keep;
	dir = malloc(sizeof(*dir) + n * sizeof(dir->p[0]) + nlen + 1);
	if (!dir) {
		rc = -ENOMEM;
		goto out_free;
	}
	dir->dir = 1;
	dir->kind = 0;
	dir->namelen = (uint8_t)nlen;
	dir->len = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		dir->p[i] = kids[i].node;
	memcpy(node_name(dir), name, nlen + 1);
	free(kids);
	*out = dir;
	return 0;
out_free:
	for (size_t i = 0; i < n; i++)
		render_free(kids[i].node);
	free(kids);
	return rc;
}

int render_instance(const cJSON *inst, struct render_node **out)
{
	*out = NULL;
	if (!cJSON_IsObject(inst))
		return -EINVAL;
	return render_object(inst, "", 0, inst, out);
}

/* Compares a node's name with the component c[0..clen) in strcmp order. */
static int name_cmp(const struct render_node *n, const char *c, size_t clen)
{
	size_t nlen = n->namelen;
	int r = memcmp(node_name(n), c, nlen < clen ? nlen : clen);

	if (r)
		return r;
	return nlen < clen ? -1 : nlen > clen;
}

const struct render_node *render_lookup(const struct render_node *root, const char *relpath)
{
	const struct render_node *n = root;
	const char *p = relpath;

	if (!root || !relpath)
		return NULL;
	if (!*p)
		return root;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		size_t lo = 0, hi;
		const struct render_node *found = NULL;

		if (!n->dir || clen == 0)
			return NULL;
		hi = n->len;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = name_cmp(n->p[mid], p, clen);

			if (c == 0) {
				found = n->p[mid];
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!found)
			return NULL;
		if (!slash)
			return found;
		n = found;
		p = slash + 1;
	}
}

bool render_is_dir(const struct render_node *n)
{
	return n && n->dir;
}

/* The bytes of file n, rendered now. NULL on ENOMEM (or for what renders as no file). */
static struct blob *render_blob(const struct render_node *n)
{
	const cJSON *item = n->p[0];
	char numbuf[32], *json = NULL;
	const char *p;
	size_t len;
	struct blob *b;

	if (n->kind == KIND_SCALAR) {
		if (!scalar_text(item, numbuf, &p, &len))
			return NULL;
	} else {
		json = render_json(item, &len);
		if (!json)
			return NULL;
		p = json;
	}
	b = malloc(sizeof(*b) + len + 2);
	if (b) {
		memcpy(b->data, p, len);
		if (n->kind == KIND_SCALAR)
			b->data[len++] = '\n';
		b->data[len] = 0;
		b->len = len;
	}
	free(json);
	return b;
}

const char *render_data(const struct render_node *n, size_t *size)
{
	struct blob *b, *expected = NULL;
	void **slot;

	if (size)
		*size = 0;
	if (!n || n->dir)
		return NULL;
	slot = (void **)&n->p[1];
	b = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!b) {
		b = render_blob(n);
		if (!b)
			return NULL;
		/* Two readers racing both render; the loser frees its copy. */
		if (!__atomic_compare_exchange_n(slot, (void **)&expected, b, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			free(b);
			b = expected;
		}
	}
	if (size)
		*size = b->len;
	return b->data;
}

bool render_size_known(const struct render_node *n, size_t *size)
{
	const struct blob *b;
	char numbuf[32];
	const char *p;
	size_t len;

	if (!n || n->dir)
		return false;
	b = __atomic_load_n((void *const *)&n->p[1], __ATOMIC_ACQUIRE);
	if (b) {
		*size = b->len;
		return true;
	}
	if (n->kind != KIND_SCALAR || !scalar_text(n->p[0], numbuf, &p, &len))
		return false;
	*size = len + 1;
	return true;
}

size_t render_nchildren(const struct render_node *n)
{
	return n && n->dir ? n->len : 0;
}

const struct render_node *render_child(const struct render_node *n, size_t i)
{
	return n && n->dir && i < n->len ? n->p[i] : NULL;
}

const char *render_name(const struct render_node *n)
{
	return n ? node_name(n) : NULL;
}

size_t render_bytes(const struct render_node *n)
{
	size_t total = 0, len = 0;

	if (!n)
		return 0;
	if (!n->dir) {
		render_data(n, &len);
		return len;
	}
	for (uint32_t i = 0; i < n->len; i++)
		total += render_bytes(n->p[i]);
	return total;
}
