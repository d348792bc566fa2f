/* query: mount paths as ListInstances queries (filter keys, validation, canonical form). Pure. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "query.h"

/* How a key's values are checked. */
enum vclass { V_TEXT, V_STATUS, V_PAYMENT, V_ACCESS, V_ACCEL, V_NUMBER, V_TIME, V_PAIR };

struct keydef {
	const char *dirname;
	const char *param;
	enum vclass vclass;
};

static const struct keydef keys[QK__COUNT] = {
	[QK_WORKSPACE_ID] = { "workspace-id", "WorkspaceId", V_TEXT },
	[QK_INSTANCE_ID] = { "instance-id", "InstanceId", V_TEXT },
	[QK_INSTANCE_NAME] = { "instance-name", "InstanceName", V_TEXT },
	[QK_RESOURCE_ID] = { "resource-id", "ResourceId", V_TEXT },
	[QK_STATUS] = { "status", "Status", V_STATUS },
	[QK_PAYMENT_TYPE] = { "payment-type", "PaymentType", V_PAYMENT },
	[QK_ACCESSIBILITY] = { "accessibility", "Accessibility", V_ACCESS },
	[QK_ACCELERATOR_TYPE] = { "accelerator-type", "AcceleratorType", V_ACCEL },
	[QK_GPU_TYPE] = { "gpu-type", "GpuType", V_TEXT },
	[QK_IMAGE_NAME] = { "image-name", "ImageName", V_TEXT },
	[QK_CREATE_USER_ID] = { "create-user-id", "CreateUserId", V_TEXT },
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

/* Longest path component (NAME_MAX) and path (PATH_MAX with its NUL) the kernel passes. */
#define COMP_MAX 255
#define PATH_LIMIT 4096

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

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* yyyy-mm-ddThh:mm:ssZ naming a real moment (month lengths and leap years checked). */
static bool time_valid(const char *v)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (strlen(v) != 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' ||
	    v[16] != ':' || v[19] != 'Z')
		return false;
	if (!all_digits(v, 4) || !all_digits(v + 5, 2) || !all_digits(v + 8, 2) ||
	    !all_digits(v + 11, 2) || !all_digits(v + 14, 2) || !all_digits(v + 17, 2))
		return false;
	y = num2(v) * 100 + num2(v + 2);
	m = num2(v + 5);
	d = num2(v + 8);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	return num2(v + 11) <= 23 && num2(v + 14) <= 59 && num2(v + 17) <= 59;
}

bool query_value_valid(enum query_key k, const char *value)
{
	const char *eq;

	if ((unsigned)k >= QK__COUNT || !value || !*value)
		return false;
	switch (keys[k].vclass) {
	case V_STATUS:
		return comma_list_valid(value, statuses);
	case V_PAYMENT:
		return in_list(value, strlen(value), payment_types);
	case V_ACCESS:
		return in_list(value, strlen(value), accessibilities);
	case V_ACCEL:
		return in_list(value, strlen(value), accelerator_types);
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

/* Whether s can be typed as one path component and means itself there. */
static bool component_ok(const char *s, size_t len)
{
	if (len == 0 || len > COMP_MAX || memchr(s, '/', len))
		return false;
	return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static void emit_if_ok(enum query_key k, const char *v, void (*emit)(const char *, void *),
		       void *ctx)
{
	if (v && component_ok(v, strlen(v)) && query_value_valid(k, v))
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

/* A cursor over the components of an absolute path (all checked by check_path first). */
struct comp {
	const char *s;	/* start of the current component */
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

static bool comp_is(const struct comp *c, const char *name)
{
	return strlen(name) == c->len && memcmp(c->s, name, c->len) == 0;
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

			if (len > COMP_MAX)
				return -ENAMETOOLONG;
			if (!component_ok(start, len))
				return -ENOENT;
			if (!*p)
				return 0;
			start = p + 1;
		}
	}
}

/* The path below a query directory's own components, starting at c. *added counts the filters
 * it adds to q. */
static int parse_query_dir(struct comp *c, struct query *q, struct query_path *out, int *added)
{
	char value[COMP_MAX + 1];
	int k, where, rc;

	for (;;) {
		if (!c->s) {
			out->node = QN_QUERY_DIR;
			return 0;
		}
		k = key_lookup_n(c->s, c->len);
		if (k >= 0) {
			/* A key already used by this path (or a full set of labels/tags) has no
			 * directory: it could only lead to -EEXIST or -E2BIG. */
			if (k == QK_LABEL || k == QK_TAG) {
				if ((k == QK_LABEL ? q->nlabels : q->ntags) >= QUERY_MAX_LABELS)
					return -ENOENT;
			} else if (q->val[k]) {
				return -ENOENT;
			}
			if (!c->next) {
				out->node = QN_KEY_DIR;
				out->key = k;
				return 0;
			}
			comp_at(c, c->next);
			memcpy(value, c->s, c->len);
			value[c->len] = 0;
			rc = add_filter(q, k, value, &where);
			if (rc)
				return rc == -ENOMEM ? rc : -ENOENT;
			(*added)++;
			if (c->next)
				comp_at(c, c->next);
			else
				c->s = NULL;
			continue;
		}
		if (comp_is(c, "instances.json") || comp_is(c, ".query") || comp_is(c, ".events")) {
			if (c->next)
				return -ENOENT;
			out->node = comp_is(c, ".query") ? QN_QUERY_INFO :
				    comp_is(c, ".events") ? QN_EVENTS : QN_INSTANCES_JSON;
			return 0;
		}
		out->node = QN_INSTANCE;
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

int query_parse_path(const char *path, const struct query *base, struct query_path *out)
{
	struct query *q = NULL;
	struct comp c;
	int rc, added = 0;

	memset(out, 0, sizeof(*out));
	if (!path || path[0] != '/')
		return -ENOENT;
	if (!path[1]) {
		out->node = QN_ROOT;
		return 0;
	}
	rc = check_path(path);
	if (rc)
		return rc;
	comp_at(&c, path + 1);
	if (comp_is(&c, "by-name") || comp_is(&c, ".dswfs")) {
		bool byname = comp_is(&c, "by-name");

		if (!c.next) {
			out->node = byname ? QN_BYNAME : QN_CTL_DIR;
			return 0;
		}
		comp_at(&c, c.next);
		if (c.next)
			return -ENOENT;
		out->node = byname ? QN_BYNAME_ENTRY : QN_CTL_FILE;
		out->name = c.s;
		return 0;
	}
	if (!comp_is(&c, "instances") && !comp_is(&c, "workspaces"))
		return -ENOENT;
	if (comp_is(&c, "workspaces") && !c.next) {
		out->node = QN_WORKSPACES;
		return 0;
	}
	q = base ? query_dup(base) : query_new(NULL, NULL);
	if (!q)
		return -ENOMEM;
	if (comp_is(&c, "workspaces")) {
		char id[COMP_MAX + 1];
		int where;

		comp_at(&c, c.next);
		memcpy(id, c.s, c.len);
		id[c.len] = 0;
		rc = add_filter(q, QK_WORKSPACE_ID, id, &where);
		if (rc)
			goto out_fail;
		added++;
	}
	if (c.next)
		comp_at(&c, c.next);
	else
		c.s = NULL;
	rc = parse_query_dir(&c, q, out, &added);
	if (rc)
		goto out_fail;
	/* Most lookups (files of instances/<id>/) add nothing: the copy's strings are current. */
	rc = added ? finish(q) : 0;
	if (rc)
		goto out_fail;
	out->query = q;
	return 0;
out_fail:
	query_free(q);
	memset(out, 0, sizeof(*out));
	return rc == -ENOMEM || rc == -ENAMETOOLONG ? rc : -ENOENT;
}

void query_path_free(struct query_path *p)
{
	if (!p)
		return;
	query_free(p->query);
	p->query = NULL;
}
