/* query: ListInstances queries (filter keys, value rules, canonical form, hints). Pure. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "isotime.h"
#include "path.h"
#include "query.h"

/* How a key's values are checked. */
enum vclass { V_TEXT, V_STATUS, V_PAYMENT, V_ACCESS, V_ACCEL, V_NUMBER, V_TIME, V_PAIR, V_WSID,
	      V_UID };

struct keydef {
	const char *dirname;
	const char *param;
	enum vclass vclass;
};

static const struct keydef keys[QK__COUNT] = {
	[QK_WORKSPACE_ID] = { "workspace-id", "WorkspaceId", V_WSID },
	[QK_INSTANCE_ID] = { "instance-id", "InstanceId", V_TEXT },
	[QK_INSTANCE_NAME] = { "instance-name", "InstanceName", V_TEXT },
	[QK_RESOURCE_ID] = { "resource-id", "ResourceId", V_TEXT },
	[QK_STATUS] = { "status", "Status", V_STATUS },
	[QK_PAYMENT_TYPE] = { "payment-type", "PaymentType", V_PAYMENT },
	[QK_ACCESSIBILITY] = { "accessibility", "Accessibility", V_ACCESS },
	[QK_ACCELERATOR_TYPE] = { "accelerator-type", "AcceleratorType", V_ACCEL },
	[QK_GPU_TYPE] = { "gpu-type", "GpuType", V_TEXT },
	[QK_IMAGE_NAME] = { "image-name", "ImageName", V_TEXT },
	[QK_CREATE_USER_ID] = { "create-user-id", "CreateUserId", V_UID },
	[QK_MIN_CPU] = { "min-cpu", "MinCpu", V_NUMBER },
	[QK_MAX_CPU] = { "max-cpu", "MaxCpu", V_NUMBER },
	[QK_MIN_GPU] = { "min-gpu", "MinGpu", V_NUMBER },
	[QK_MAX_GPU] = { "max-gpu", "MaxGpu", V_NUMBER },
	[QK_MIN_MEMORY] = { "min-memory", "MinMemory", V_NUMBER },
	[QK_MAX_MEMORY] = { "max-memory", "MaxMemory", V_NUMBER },
	[QK_MIN_GPU_MEMORY] = { "min-gpu-memory", "MinGpuMemory", V_NUMBER },
	[QK_MAX_GPU_MEMORY] = { "max-gpu-memory", "MaxGpuMemory", V_NUMBER },
	[QK_CREATE_TIME_AFTER] = { "create-time-after", "CreateTimeAfter", V_TIME },
	[QK_CREATE_TIME_BEFORE] = { "create-time-before", "CreateTimeBefore", V_TIME },
	[QK_OVERSOLD_INFO] = { "oversold-info", "OversoldInfo", V_TEXT },
	[QK_OVERSOLD_TYPE] = { "oversold-type", "OversoldType", V_TEXT },
	[QK_LABEL] = { "label", "Labels", V_PAIR },
	[QK_TAG] = { "tag", "Tag", V_PAIR },
};

/* dsw-api-facts.md, "Enumerations". */
static const char *const statuses[] = {
	"Creating", "SaveFailed", "Stopped", "Failed", "ResourceAllocating", "Stopping",
	"Updating", "Saving", "Queuing", "Recovering", "Starting", "Running", "Saved",
	"Deleting", "EnvPreparing", NULL,
};
static const char *const payment_types[] = { "PayAsYouGo", "Subscription", NULL };
static const char *const accessibilities[] = { "PRIVATE", "PUBLIC", NULL };
static const char *const accelerator_types[] = { "CPU", "GPU", NULL };

/* Longest path component: values and pairs longer than this cannot be typed. */
#define COMP_MAX PATH_NAME_MAX

struct query {
	char *base_ws, *base_res;	/* NULL when left out */
	char *val[QK_LABEL];		/* path filters of the single-valued keys */
	char *labels[QUERY_MAX_LABELS];	/* "k=v", kept sorted by key */
	char *tags[QUERY_MAX_LABELS];	/* "k=v", kept sorted by key, then value */
	unsigned char nlabels, ntags;
	/* Derived from the above by finish(); never changed by readers, so a finished query may
	 * be shared between threads. */
	char *labels_json, *tag_json, *canonical;
};

const char *query_key_dirname(enum query_key k)
{
	return (unsigned)k < QK__COUNT ? keys[k].dirname : NULL;
}

const char *query_key_param(enum query_key k)
{
	return (unsigned)k < QK__COUNT ? keys[k].param : NULL;
}

static int key_lookup_n(const char *name, size_t len)
{
	for (int k = 0; k < QK__COUNT; k++)
		if (strlen(keys[k].dirname) == len && memcmp(keys[k].dirname, name, len) == 0)
			return k;
	return -ENOENT;
}

int query_key_lookup(const char *name)
{
	return name ? key_lookup_n(name, strlen(name)) : -ENOENT;
}

static bool in_list(const char *s, size_t len, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == len && memcmp(*list, s, len) == 0)
			return true;
	return false;
}

/* A comma list whose every element (none empty) is in list. */
static bool comma_list_valid(const char *v, const char *const *list)
{
	for (;;) {
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);

		if (!in_list(v, len, list))
			return false;
		if (!comma)
			return true;
		v = comma + 1;
	}
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The API's timestamp, or a plain date meaning 00:00:00Z (stored in the API's form). */
static bool time_valid(const char *v)
{
	time_t t;

	return isotime_parse(v, ISOTIME_DATE, &t) == 0;
}

/* The shape of an enumeration value: the documented ones are ASCII words ("Running",
 * "PayAsYouGo", "PRIVATE"), and values the API adds later will be too. */
static bool enum_word(const char *s, size_t len)
{
	if (len == 0 || len > 64 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A comma list (status) or a single value whose every element is an enumeration word. */
static bool enum_valid(const char *v, bool list)
{
	for (;;) {
		const char *comma = list ? strchr(v, ',') : NULL;
		size_t len = comma ? (size_t)(comma - v) : strlen(v);

		if (!enum_word(v, len))
			return false;
		if (!comma)
			return true;
		v = comma + 1;
	}
}

/* Workspace and user ids are decimal ("40823", "1612285282502324"): every id the API issues. */
static bool id_valid(const char *v)
{
	size_t n = strlen(v);

	return n > 0 && n <= 32 && all_digits(v, n);
}

bool query_value_valid(enum query_key k, const char *value)
{
	const char *eq;

	if ((unsigned)k >= QK__COUNT || !value || !*value)
		return false;
	switch (keys[k].vclass) {
	case V_STATUS:
		return enum_valid(value, true);
	case V_PAYMENT: case V_ACCESS: case V_ACCEL:
		return enum_valid(value, false);
	case V_WSID:
		return id_valid(value) || strcmp(value, "ALL") == 0;
	case V_UID:
		return id_valid(value);
	case V_NUMBER:
		return all_digits(value, strlen(value));
	case V_TIME:
		return time_valid(value);
	case V_PAIR:
		eq = strchr(value, '=');
		return eq && eq != value;
	case V_TEXT:
		break;
	}
	return true;
}

static void emit_if_ok(enum query_key k, const char *v, void (*emit)(const char *, void *),
		       void *ctx)
{
	if (v && path_component_ok(v, strlen(v)) && query_value_valid(k, v))
		emit(v, ctx);
}

/* "key=value" for label/tag values; a key holding '=' could not be typed back unambiguously. */
static void emit_pair(enum query_key k, const char *ks, const char *vs,
		      void (*emit)(const char *, void *), void *ctx)
{
	char pair[COMP_MAX + 1];
	size_t kl, vl;

	if (!ks || !vs || strchr(ks, '='))
		return;
	kl = strlen(ks);
	vl = strlen(vs);
	if (kl + 1 + vl > COMP_MAX)
		return;
	memcpy(pair, ks, kl);
	pair[kl] = '=';
	memcpy(pair + kl + 1, vs, vl + 1);
	emit_if_ok(k, pair, emit, ctx);
}

static const char *member_string(const cJSON *obj, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* Member name -> the instance field a key's values come from. */
static const char *const value_fields[QK__COUNT] = {
	[QK_WORKSPACE_ID] = "WorkspaceId", [QK_INSTANCE_ID] = "InstanceId",
	[QK_INSTANCE_NAME] = "InstanceName", [QK_RESOURCE_ID] = "ResourceId",
	[QK_STATUS] = "Status", [QK_PAYMENT_TYPE] = "PaymentType",
	[QK_ACCESSIBILITY] = "Accessibility", [QK_ACCELERATOR_TYPE] = "AcceleratorType",
	[QK_IMAGE_NAME] = "ImageName", [QK_CREATE_USER_ID] = "UserId",
	[QK_OVERSOLD_INFO] = "OversoldInfo", [QK_OVERSOLD_TYPE] = "OversoldType",
};

int query_int_text(const cJSON *item, char out[QUERY_INT_TEXT])
{
	double d;

	if (!cJSON_IsNumber(item))
		return -EDOM;
	d = item->valuedouble;
	if (!isfinite(d) || d != trunc(d) || fabs(d) > 9007199254740992.0)
		return -EDOM;
	snprintf(out, QUERY_INT_TEXT, "%.0f", d == 0 ? 0.0 : d);	/* no "-0" */
	return 0;
}

/* The ids a server may send as numbers (API versions differ); other members must be strings. */
static bool numeric_id_field(enum query_key k)
{
	return k == QK_WORKSPACE_ID || k == QK_INSTANCE_ID || k == QK_RESOURCE_ID ||
	       k == QK_CREATE_USER_ID;
}

/* A member's text for key values: a string, or an id's integral number. */
static const char *member_text(const cJSON *obj, enum query_key k, char num[QUERY_INT_TEXT])
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, value_fields[k]);

	if (cJSON_IsString(m))
		return m->valuestring;
	if (numeric_id_field(k) && query_int_text(m, num) == 0)
		return num;
	return NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Whether text and numeric readings of s agree with plain byte comparison: s is either the
 * canonical form of an integer, or cannot be read as a number at all (does not start like one)
 * and has no surrounding blanks a server might trim. Empty strings are ambiguous too (a list
 * "a,,b" may or may not mean ""). */
static bool unambiguous(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || is_space(s[0]) || is_space(s[len - 1]))
		return false;
	if (s[0] == '+' || s[0] == '.')
		return false;
	if (s[0] != '-' && (s[0] < '0' || s[0] > '9'))
		return true;	/* not numeric-looking: "dsw-1", "Running", "ALL" */
	if (s[0] == '-')
		i = 1;
	if (i == len || s[i] == '.')
		return false;		/* "-", "-.5" */
	if (s[i] < '0' || s[i] > '9')
		return true;		/* "-x": no number starts so */
	if (s[i] == '0')
		return len == 1;	/* "0" alone; "-0", "007" are not canonical */
	return all_digits(s + i, len - i);
}

int query_field_match(const cJSON *member, const char *want, bool list)
{
	char num[QUERY_INT_TEXT];
	const char *text;
	size_t tl;
	int found = 0;

	if (!want)
		return -EDOM;
	if (!member)
		return 0;
	if (cJSON_IsString(member) && member->valuestring)
		text = member->valuestring;
	else if (query_int_text(member, num) == 0)
		text = num;
	else
		return -EDOM;
	tl = strlen(text);
	if (tl && !unambiguous(text, tl))
		return -EDOM;	/* "" equals no element, which are all non-empty: it can stay */
	for (const char *p = want;;) {
		const char *comma = list ? strchr(p, ',') : NULL;
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		/* Every element is checked, so the answer does not depend on the member. */
		if (!unambiguous(p, len))
			return -EDOM;
		if (len == tl && memcmp(p, text, len) == 0)
			found = 1;
		if (!comma)
			return found;
		p = comma + 1;
	}
}

void query_key_values(enum query_key k, const cJSON *inst,
		      void (*emit)(const char *value, void *ctx), void *ctx)
{
	const cJSON *m, *it;

	if ((unsigned)k >= QK__COUNT || !cJSON_IsObject(inst) || !emit)
		return;
	switch (k) {
	case QK_GPU_TYPE:
		m = cJSON_GetObjectItemCaseSensitive(inst, "RequestedResource");
		if (cJSON_IsObject(m))
			emit_if_ok(k, member_string(m, "GPUType"), emit, ctx);
		return;
	case QK_LABEL:
		m = cJSON_GetObjectItemCaseSensitive(inst, "Labels");
		/* The reference documents [{"Key","Value"}] but shows {"foo": "bar"}: take both. */
		if (cJSON_IsObject(m)) {
			cJSON_ArrayForEach(it, m)
				emit_pair(k, it->string, cJSON_GetStringValue(it), emit, ctx);
		} else if (cJSON_IsArray(m)) {
			cJSON_ArrayForEach(it, m)
				if (cJSON_IsObject(it))
					emit_pair(k, member_string(it, "Key"),
						  member_string(it, "Value"), emit, ctx);
		}
		return;
	case QK_TAG:
		m = cJSON_GetObjectItemCaseSensitive(inst, "Tags");
		if (!cJSON_IsArray(m))
			return;
		cJSON_ArrayForEach(it, m) {
			if (!cJSON_IsObject(it))
				continue;
			if (cJSON_GetObjectItemCaseSensitive(it, "TagKey"))
				emit_pair(k, member_string(it, "TagKey"),
					  member_string(it, "TagValue"), emit, ctx);
			else
				emit_pair(k, member_string(it, "Key"), member_string(it, "Value"),
					  emit, ctx);
		}
		return;
	default:
		if (value_fields[k]) {
			char num[QUERY_INT_TEXT];

			emit_if_ok(k, member_text(inst, k, num), emit, ctx);
		}
		return;
	}
}

/* Orders "k=v" pairs by key, then by value (a plain strcmp would put "a!=x" before "a=x"). */
static int pair_cmp(const char *a, const char *b)
{
	size_t ka = strcspn(a, "="), kb = strcspn(b, "=");
	int c = memcmp(a, b, ka < kb ? ka : kb);

	if (c)
		return c;
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return strcmp(a + ka, b + kb);
}

static bool same_key(const char *a, const char *b)
{
	size_t ka = strcspn(a, "=");

	return ka == strcspn(b, "=") && memcmp(a, b, ka) == 0;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Appends s as a JSON string. */
static int json_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int rc = buf_append(b, "\"", 1);

	for (size_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			rc = buf_append(b, esc, 2);
		} else if (c < 0x20) {
			rc = buf_append(b, esc, 6);
		} else {
			rc = buf_append(b, &s[i], 1);
		}
	}
	return rc ? rc : buf_append(b, "\"", 1);
}

/* Labels: {"k":"v",...}; Tag: [{"Key":"k","Value":"v"},...]; both already sorted. */
static int pairs_json(char *const *pairs, size_t n, bool tag, char **out)
{
	struct buf b;
	int rc;

	buf_init(&b, SIZE_MAX);
	rc = buf_puts(&b, tag ? "[" : "{");
	for (size_t i = 0; i < n && !rc; i++) {
		const char *p = pairs[i];
		size_t kl = strcspn(p, "=");

		if (i)
			rc = buf_puts(&b, ",");
		if (tag)
			rc = rc ? rc : buf_puts(&b, "{\"Key\":");
		rc = rc ? rc : json_string(&b, p, kl);
		rc = rc ? rc : buf_puts(&b, tag ? ",\"Value\":" : ":");
		rc = rc ? rc : json_string(&b, p + kl + 1, strlen(p + kl + 1));
		if (tag)
			rc = rc ? rc : buf_puts(&b, "}");
	}
	rc = rc ? rc : buf_puts(&b, tag ? "]" : "}");
	if (rc) {
		buf_free(&b);
		return -ENOMEM;
	}
	*out = buf_steal(&b, NULL);
	buf_free(&b);
	return *out ? 0 : -ENOMEM;
}

static const char *param_value(const struct query *q, enum query_key k)
{
	if (k == QK_LABEL)
		return q->nlabels ? q->labels_json : NULL;
	if (k == QK_TAG)
		return q->ntags ? q->tag_json : NULL;
	if (q->val[k])
		return q->val[k];
	if (k == QK_WORKSPACE_ID)
		return q->base_ws;
	if (k == QK_RESOURCE_ID)
		return q->base_res;
	return NULL;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sign_kv *)a)->name, ((const struct sign_kv *)b)->name);
}

/* The parameters in byte order of their names (they are distinct, so the order is total). */
static size_t fill_params(const struct query *q, struct sign_kv *kv)
{
	size_t n = 0;

	for (int k = 0; k < QK__COUNT; k++) {
		const char *v = param_value(q, k);

		if (v) {
			kv[n].name = keys[k].param;
			kv[n].value = v;
			n++;
		}
	}
	qsort(kv, n, sizeof(*kv), kv_cmp);
	return n;
}

/* Recomputes the derived strings. On -ENOMEM the query keeps its previous ones. */
static int finish(struct query *q)
{
	struct sign_kv kv[QK__COUNT];
	char *lj = NULL, *tj = NULL, *canon, *old_lj = q->labels_json, *old_tj = q->tag_json;
	size_t n;

	if ((q->nlabels && pairs_json(q->labels, q->nlabels, false, &lj)) ||
	    (q->ntags && pairs_json(q->tags, q->ntags, true, &tj))) {
		free(lj);
		return -ENOMEM;
	}
	q->labels_json = lj;
	q->tag_json = tj;
	n = fill_params(q, kv);
	canon = sign_query_string(kv, n);
	if (!canon) {
		q->labels_json = old_lj;
		q->tag_json = old_tj;
		free(lj);
		free(tj);
		return -ENOMEM;
	}
	free(old_lj);
	free(old_tj);
	free(q->canonical);
	q->canonical = canon;
	return 0;
}

struct query *query_new(const char *workspace_id, const char *resource_id)
{
	struct query *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->base_ws = dup_or_null(workspace_id);
	q->base_res = dup_or_null(resource_id);
	if ((workspace_id && *workspace_id && !q->base_ws) ||
	    (resource_id && *resource_id && !q->base_res) || finish(q)) {
		query_free(q);
		return NULL;
	}
	return q;
}

static int dup_field(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

struct query *query_dup(const struct query *q)
{
	struct query *d;
	int rc = 0;

	if (!q)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->nlabels = q->nlabels;
	d->ntags = q->ntags;
	rc |= dup_field(&d->base_ws, q->base_ws);
	rc |= dup_field(&d->base_res, q->base_res);
	for (int k = 0; k < QK_LABEL; k++)
		rc |= dup_field(&d->val[k], q->val[k]);
	for (int i = 0; i < q->nlabels; i++)
		rc |= dup_field(&d->labels[i], q->labels[i]);
	for (int i = 0; i < q->ntags; i++)
		rc |= dup_field(&d->tags[i], q->tags[i]);
	rc |= dup_field(&d->labels_json, q->labels_json);
	rc |= dup_field(&d->tag_json, q->tag_json);
	rc |= dup_field(&d->canonical, q->canonical);
	if (rc) {
		query_free(d);
		return NULL;
	}
	return d;
}

/* Inserts the owned pair v into the sorted array (n < QUERY_MAX_LABELS); returns its index. */
static int insert_sorted(char **arr, unsigned char *n, char *v)
{
	int i = *n;

	while (i > 0 && pair_cmp(arr[i - 1], v) > 0) {
		arr[i] = arr[i - 1];
		i--;
	}
	arr[i] = v;
	(*n)++;
	return i;
}

static void remove_at(char **arr, unsigned char *n, int i)
{
	free(arr[i]);
	memmove(&arr[i], &arr[i + 1], (size_t)(*n - i - 1) * sizeof(*arr));
	(*n)--;
}

/* Adds a filter without recomputing the derived strings. *where gets what to undo: the index
 * of the inserted label/tag, or -1 for a single-valued key. */
static int add_filter(struct query *q, enum query_key k, const char *value, int *where)
{
	char **arr;
	unsigned char *n;
	char *copy;

	if ((unsigned)k >= QK__COUNT || !query_value_valid(k, value))
		return -ENOENT;
	if (k != QK_LABEL && k != QK_TAG) {
		if (q->val[k])
			return -EEXIST;
		/* A plain date goes to the API in its own form: one query, one cache key. */
		if (keys[k].vclass == V_TIME && strlen(value) == ISOTIME_DATE_LEN)
			q->val[k] = asprintf(&copy, "%sT00:00:00Z", value) < 0 ? NULL : copy;
		else
			q->val[k] = strdup(value);
		*where = -1;
		return q->val[k] ? 0 : -ENOMEM;
	}
	arr = k == QK_LABEL ? q->labels : q->tags;
	n = k == QK_LABEL ? &q->nlabels : &q->ntags;
	/* Labels are a JSON object (one value per key); a tag may repeat its key with other
	 * values, but the very same pair twice would only make two spellings of one query. */
	for (int i = 0; i < *n; i++)
		if (k == QK_LABEL ? same_key(arr[i], value) : strcmp(arr[i], value) == 0)
			return -EEXIST;
	if (*n >= QUERY_MAX_LABELS)
		return -E2BIG;
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	*where = insert_sorted(arr, n, copy);
	return 0;
}

int query_add(struct query *q, enum query_key k, const char *value)
{
	int where, rc;

	if (!q)
		return -EINVAL;
	rc = add_filter(q, k, value, &where);
	if (rc)
		return rc;
	rc = finish(q);
	if (rc) {
		if (where < 0) {
			free(q->val[k]);
			q->val[k] = NULL;
		} else if (k == QK_LABEL) {
			remove_at(q->labels, &q->nlabels, where);
		} else {
			remove_at(q->tags, &q->ntags, where);
		}
	}
	return rc;
}

int query_add_deferred(struct query *q, enum query_key k, const char *value)
{
	int where;

	return q ? add_filter(q, k, value, &where) : -EINVAL;
}

int query_finish(struct query *q)
{
	return finish(q);
}

bool query_can_add(const struct query *q, enum query_key k)
{
	if (!q || (unsigned)k >= QK__COUNT)
		return false;
	if (k == QK_LABEL)
		return q->nlabels < QUERY_MAX_LABELS;
	if (k == QK_TAG)
		return q->ntags < QUERY_MAX_LABELS;
	return q->val[k] == NULL;
}

bool query_path_has(const struct query *q, enum query_key k)
{
	if (!q || (unsigned)k >= QK__COUNT)
		return false;
	if (k == QK_LABEL)
		return q->nlabels > 0;
	if (k == QK_TAG)
		return q->ntags > 0;
	return q->val[k] != NULL;
}

const char *query_canonical(const struct query *q)
{
	return q ? q->canonical : NULL;
}

int query_params(const struct query *q, struct sign_kv **out, size_t *n)
{
	struct sign_kv *kv = calloc(QK__COUNT, sizeof(*kv));

	if (!kv)
		return -ENOMEM;
	*n = fill_params(q, kv);
	*out = kv;
	return 0;
}

void query_free(struct query *q)
{
	if (!q)
		return;
	free(q->base_ws);
	free(q->base_res);
	for (int k = 0; k < QK_LABEL; k++)
		free(q->val[k]);
	for (int i = 0; i < q->nlabels; i++)
		free(q->labels[i]);
	for (int i = 0; i < q->ntags; i++)
		free(q->tags[i]);
	free(q->labels_json);
	free(q->tag_json);
	free(q->canonical);
	free(q);
}

/* The documented values of an enumerated key, or NULL. */
static const char *const *documented(enum query_key k)
{
	switch ((unsigned)k < QK__COUNT ? keys[k].vclass : V_TEXT) {
	case V_STATUS: return statuses;
	case V_PAYMENT: return payment_types;
	case V_ACCESS: return accessibilities;
	case V_ACCEL: return accelerator_types;
	default: return NULL;
	}
}

bool query_value_documented(enum query_key k, const char *value)
{
	const char *const *list = documented(k);

	if (!list)
		return true;
	if (!value)
		return false;
	if (keys[k].vclass == V_STATUS)
		return comma_list_valid(value, list);
	return in_list(value, strlen(value), list);
}

bool query_param_documented(const char *param, const char *value)
{
	for (int k = 0; k < QK__COUNT; k++)
		if (param && strcmp(keys[k].param, param) == 0)
			return query_value_documented(k, value);
	return true;
}

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c == '_' ? '-' : c;
}

/* Edit distance (insertions, deletions, substitutions, adjacent transpositions) between a
 * (al bytes) and b, ignoring case and '_' against '-'; words longer than 64 bytes count as
 * far from everything. */
static size_t distance(const char *a, size_t al, const char *b)
{
	size_t bl = strlen(b), d[65][65];

	if (al > 64 || bl > 64)
		return SIZE_MAX;
	for (size_t i = 0; i <= al; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= bl; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= al; i++) {
		for (size_t j = 1; j <= bl; j++) {
			size_t cost = fold(a[i - 1]) != fold(b[j - 1]), best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
			    fold(a[i - 2]) == fold(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[al][bl];
}

/* The candidate closest to word (len bytes) when it is close: at most 2 edits, and fewer than
 * a third of the candidate's length, so short words do not "correct" to unrelated ones. */
static const char *closest(const char *word, size_t len, const char *const *cand, size_t n)
{
	const char *best = NULL;
	size_t bd = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(word, len, cand[i]);

		if (d < bd && d <= 2 && d * 3 < strlen(cand[i])) {
			bd = d;
			best = cand[i];
		}
	}
	return best;
}

const char *query_suggest_key(const char *name)
{
	const char *names[QK__COUNT];

	if (!name)
		return NULL;
	for (int k = 0; k < QK__COUNT; k++)
		names[k] = keys[k].dirname;
	return closest(name, strlen(name), names, QK__COUNT);
}

const char *query_suggest_value(enum query_key k, const char *value)
{
	const char *const *list = documented(k);
	size_t n = 0;

	if (!list || !value)
		return NULL;
	while (list[n])
		n++;
	for (const char *v = value;;) {
		const char *comma = keys[k].vclass == V_STATUS ? strchr(v, ',') : NULL;
		size_t len = comma ? (size_t)(comma - v) : strlen(v);

		if (!in_list(v, len, list))
			return closest(v, len, list, n);
		if (!comma)
			return NULL;
		v = comma + 1;
	}
}
