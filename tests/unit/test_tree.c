/* test_tree: the mount's namespace over a fake fetch and a fake clock (no FUSE, no network). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "path.h"
#include "merge.h"
#include "query.h"
#include "snap.h"
#include "stats.h"
#include "tree.h"
#include "tf.h"

static const char *fleet_json =
	"["
	"{\"InstanceId\":\"dsw-aaa\",\"InstanceName\":\"alpha\",\"WorkspaceId\":\"40823\","
	" \"Status\":\"Running\",\"AcceleratorType\":\"GPU\",\"GmtCreateTime\":\"2024-01-02T03:04:05Z\","
	" \"GmtModifiedTime\":\"2024-02-02T03:04:05Z\",\"Priority\":1,"
	" \"RequestedResource\":{\"CPU\":\"4\",\"GPUType\":\"NVIDIA A10\"},"
	" \"Labels\":[{\"Key\":\"team\",\"Value\":\"nlp\"}],\"ImageAuth\":\"c2VjcmV0\","
	" \"EnvironmentVariables\":{\"TOKEN\":\"hunter2\"},\"Datasets\":[],\"Nothing\":null},"
	"{\"InstanceId\":\"dsw-bbb\",\"InstanceName\":\"alpha\",\"WorkspaceId\":\"40823\","
	" \"Status\":\"Stopped\",\"AcceleratorType\":\"CPU\"},"
	"{\"InstanceId\":\"dsw-ccc\",\"InstanceName\":\"a/b\",\"WorkspaceId\":\"7\","
	" \"Status\":\"Running\",\"AcceleratorType\":\"CPU\"}"
	"]";

struct fake {
	int calls;
	int mutate;	/* dsw-aaa reports Stopped instead of Running */
	char inval[8192];
	int fail;	/* -errno to return, 0 for success */
	char last_params[1024];
	double now;
};

static int fake_fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **out,
		      struct err_info *err)
{
	struct fake *f = ctx;
	cJSON *all, *res, *it;
	const char *status = NULL, *ws = NULL;

	f->calls++;
	f->last_params[0] = 0;
	for (size_t i = 0; i < n; i++) {
		strncat(f->last_params, params[i].name, sizeof(f->last_params) - strlen(f->last_params) - 1);
		strncat(f->last_params, "=", sizeof(f->last_params) - strlen(f->last_params) - 1);
		strncat(f->last_params, params[i].value, sizeof(f->last_params) - strlen(f->last_params) - 1);
		strncat(f->last_params, ";", sizeof(f->last_params) - strlen(f->last_params) - 1);
		if (!strcmp(params[i].name, "Status"))
			status = params[i].value;
		if (!strcmp(params[i].name, "WorkspaceId") && strcmp(params[i].value, "ALL"))
			ws = params[i].value;
	}
	if (f->fail) {
		err->http_status = 503;
		snprintf(err->code, sizeof(err->code), "ServiceUnavailableTemporary");
		snprintf(err->message, sizeof(err->message), "try later");
		return f->fail;
	}
	all = cJSON_Parse(fleet_json);
	res = cJSON_CreateArray();
	while ((it = cJSON_DetachItemFromArray(all, 0))) {
		const char *s;

		if (f->mutate && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "InstanceId")),
					 "dsw-aaa"))
			cJSON_ReplaceItemInObject(it, "Status", cJSON_CreateString("Stopped"));
		s = cJSON_GetStringValue(cJSON_GetObjectItem(it, "Status"));
		const char *w = cJSON_GetStringValue(cJSON_GetObjectItem(it, "WorkspaceId"));

		if ((status && strcmp(status, s)) || (ws && strcmp(ws, w)))
			cJSON_Delete(it);
		else
			cJSON_AddItemToArray(res, it);
	}
	cJSON_Delete(all);
	*out = res;
	return 0;
}

static double fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static void fake_invalidate(void *ctx, const char *path)
{
	struct fake *f = ctx;

	strncat(f->inval, path, sizeof(f->inval) - strlen(f->inval) - 2);
	strcat(f->inval, " ");
}

static struct tree *make_tree(struct fake *f, bool show_secrets)
{
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .max_snapshots = 16,
		.show_secrets = show_secrets, .fetch = fake_fetch, .fetch_ctx = f,
		.now = fake_now, .now_ctx = f, .invalidate = fake_invalidate, .invalidate_ctx = f,
	};
	struct tree *t = NULL;

	memset(f, 0, sizeof(*f));
	f->now = 1000;
	CHECK_EQ_INT(tree_new(&c, &t), 0);
	return t;
}

struct names {
	char buf[4096];
	int n;
};

static int collect(void *ctx, const char *name, const struct tree_attr *a)
{
	struct names *nm = ctx;

	(void)a;
	strncat(nm->buf, name, sizeof(nm->buf) - strlen(nm->buf) - 2);
	strcat(nm->buf, " ");
	nm->n++;
	return 0;
}

static char *read_all(struct tree *t, const char *path, size_t *len)
{
	struct tree_file *f = NULL;
	char *out;
	int rc = tree_open(t, path, &f);

	if (rc) {
		tf_fail(__FILE__, __LINE__, "open %s: %d", path, rc);
		return NULL;
	}
	*len = tree_file_size(f);
	out = calloc(1, *len + 1);
	CHECK_EQ_INT(tree_read(f, out, *len + 10, 0), *len);
	tree_close(f);
	return out;
}

TEST(root_and_listing)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;

	CHECK_EQ_INT(tree_readdir(t, "/", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "instances workspaces by-name .dswfs workspaces-by-name users "
			     "users-by-name ");
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa dsw-bbb dsw-ccc ");
	/* Not listed, still there by name. */
	CHECK_EQ_INT(tree_getattr(t, "/instances/instances.json", &a), 0);
	CHECK_EQ_INT(a.type, TREE_FILE);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa", &a), 0);
	CHECK_EQ_INT(a.type, TREE_DIR);
	CHECK_EQ_INT(a.mode, 0555);
	CHECK_EQ_INT(a.mtime, 1706843045);
	CHECK_EQ_INT(a.ctime, 1704164645);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-zzz", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(t, "/nope", &a), -ENOENT);
	CHECK_EQ_INT(f.calls, 1);
	tree_free(t);
}

TEST(instance_files)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;
	size_t len;
	char *s;

	CHECK_EQ_INT(tree_readdir(t, "/instances/dsw-aaa", collect, &nm), 0);
	CHECK(strstr(nm.buf, "Status ") != NULL);
	CHECK(strstr(nm.buf, "RequestedResource ") != NULL);
	CHECK(strstr(nm.buf, "Labels.json ") != NULL);
	CHECK(strstr(nm.buf, "instance.json") == NULL);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/instance.json", &a), 0);
	CHECK_EQ_INT(a.type, TREE_FILE);
	CHECK(strstr(nm.buf, "Nothing") == NULL);
	s = read_all(t, "/instances/dsw-aaa/Status", &len);
	CHECK_EQ_STR(s, "Running\n");
	free(s);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/RequestedResource/GPUType", &a), 0);
	CHECK_EQ_INT(a.size, strlen("NVIDIA A10\n"));
	CHECK_EQ_INT(a.mode, 0444);
	s = read_all(t, "/instances/dsw-aaa/ImageAuth", &len);
	CHECK_EQ_STR(s, "<redacted>\n");
	free(s);
	s = read_all(t, "/instances/dsw-aaa/instance.json", &len);
	CHECK(s && !strstr(s, "hunter2") && !strstr(s, "c2VjcmV0"));
	free(s);
	s = read_all(t, "/instances/instances.json", &len);
	CHECK(s && strstr(s, "dsw-ccc") && !strstr(s, "hunter2"));
	free(s);
	CHECK_EQ_INT(tree_readdir(t, "/instances/dsw-aaa/Status", collect, &nm), -ENOTDIR);
	CHECK_EQ_INT(f.calls, 1);
	tree_free(t);
}

TEST(show_secrets)
{
	struct fake f;
	struct tree *t = make_tree(&f, true);
	size_t len;
	char *s = read_all(t, "/instances/dsw-aaa/EnvironmentVariables/TOKEN", &len);

	CHECK_EQ_STR(s, "hunter2\n");
	free(s);
	tree_free(t);
}

TEST(filters_and_key_dirs)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;

	CHECK_EQ_INT(tree_readdir(t, "/instances/status", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "Running Stopped ");
	memset(&nm, 0, sizeof(nm));
	/* answered from the cached instances/ without asking the server */
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/40823/status/Running", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa ");
	CHECK_EQ_INT(f.calls, 1);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances/status/Stopped,Running/accelerator-type/CPU",
				  collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-bbb dsw-ccc ");
	CHECK_EQ_INT(f.calls, 1);
	/* gpu-type's server semantics are not documented: always asked */
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/40823/gpu-type/A10", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 2);
	CHECK(strstr(f.last_params, "GpuType=A10;") != NULL);
	CHECK(strstr(f.last_params, "WorkspaceId=40823;") != NULL);
	CHECK_EQ_INT(tree_getattr(t, "/instances/status/Run ning", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(t, "/workspaces/abc", &a), -ENOENT);
	/* an undocumented enumeration value is the server's to judge, never narrowed locally */
	CHECK_EQ_INT(tree_readdir(t, "/instances/status/Runing", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 3);
	CHECK(strstr(f.last_params, "Status=Runing;") != NULL);
	CHECK_EQ_INT(tree_getattr(t, "/workspaces/40823/status/Running/dsw-aaa/Status", &a), 0);
	/* the same query by another path costs nothing */
	int calls = f.calls;
	CHECK_EQ_INT(tree_getattr(t, "/instances/status/Running/workspace-id/40823/dsw-aaa", &a), 0);
	CHECK_EQ_INT(f.calls, calls);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "40823 7 ");
	tree_free(t);
}

TEST(narrowing_needs_fresh_base)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };

	/* nothing cached: the narrow query goes to the server */
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/7", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-ccc ");
	CHECK_EQ_INT(f.calls, 1);
	CHECK(strstr(f.last_params, "WorkspaceId=7;") != NULL);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 2);
	/* a stale base is not used */
	f.now += 31;
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/40823", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 3);
	tree_free(t);
}

TEST(by_name_links)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;
	char target[256];

	CHECK_EQ_INT(tree_readdir(t, "/by-name", collect, &nm), 0);
	CHECK_EQ_INT(nm.n, 3);
	CHECK(strstr(nm.buf, "alpha@dsw-aaa ") != NULL);
	CHECK(strstr(nm.buf, "alpha@dsw-bbb ") != NULL);
	CHECK(strstr(nm.buf, "a%2Fb ") != NULL);
	CHECK_EQ_INT(tree_getattr(t, "/by-name/a%2Fb", &a), 0);
	CHECK_EQ_INT(a.type, TREE_LINK);
	CHECK_EQ_INT(tree_readlink(t, "/by-name/a%2Fb", target, sizeof(target)), 0);
	CHECK_EQ_STR(target, "../instances/dsw-ccc");
	CHECK_EQ_INT(a.size, strlen(target));
	tree_free(t);
}

TEST(workspace_and_user_views)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;
	char target[256];

	/* the fleet has no WorkspaceName: every workspace link is "@<id>" */
	CHECK_EQ_INT(tree_readdir(t, "/workspaces-by-name", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "@40823 @7 ");
	CHECK_EQ_INT(tree_getattr(t, "/workspaces-by-name/@7", &a), 0);
	CHECK_EQ_INT(a.type, TREE_LINK);
	CHECK_EQ_INT(tree_readlink(t, "/workspaces-by-name/@7", target, sizeof(target)), 0);
	CHECK_EQ_STR(target, "../workspaces/7");
	CHECK_EQ_INT(a.size, strlen(target));
	CHECK_EQ_INT(tree_getattr(t, "/workspaces-by-name/7", &a), -ENOENT);
	CHECK_EQ_INT(tree_readlink(t, "/workspaces/7", target, sizeof(target)), -EINVAL);
	/* no UserId in the fleet: users/ and users-by-name/ are empty, not errors */
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/users", collect, &nm), 0);
	CHECK_EQ_INT(tree_readdir(t, "/users-by-name", collect, &nm), 0);
	CHECK_EQ_INT(nm.n, 0);
	CHECK_EQ_INT(tree_getattr(t, "/users/12", &a), 0);	/* a query dir, possibly empty */
	CHECK_EQ_INT(a.type, TREE_DIR);
	CHECK_EQ_INT(tree_getattr(t, "/users/bob", &a), -ENOENT);
	/* a refresh invalidates the links the kernel was shown */
	f.inval[0] = 0;
	tree_refresh(t);
	CHECK(strstr(f.inval, "/workspaces-by-name/@7 ") != NULL);
	CHECK(strstr(f.inval, "/workspaces-by-name ") != NULL);
	CHECK(strstr(f.inval, "/users ") != NULL);
	tree_free(t);
}

TEST(ttl_and_refresh)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct tree_attr a;

	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	f.now += 29;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(f.calls, 1);
	f.now += 2;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(f.calls, 2);
	CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(f.calls, 3);
	CHECK_EQ_INT(tree_write(t, "/instances/dsw-aaa/Status"), -EROFS);
	CHECK_EQ_INT(tree_write(t, "/.dswfs/stats"), -EROFS);
	tree_free(t);
}

TEST(errors_reach_last_error)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct tree_attr a;
	struct tree_file *tf;
	size_t len;
	char *s;

	f.fail = -EIO;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa", &a), -EIO);
	s = read_all(t, "/.dswfs/last_error", &len);
	CHECK(s && strstr(s, "ServiceUnavailableTemporary") && strstr(s, "503"));
	free(s);
	/* The failure is remembered for a back-off of min(ttl, 1 s): an immediate retry gets it
	 * at once, without a fetch; */
	f.fail = 0;
	CHECK_EQ_INT(tree_open(t, "/instances/dsw-aaa/Status", &tf), -EIO);
	CHECK_EQ_INT(f.calls, 1);
	/* after it, the next reader fetches again. */
	f.now += 1;
	tf = NULL;
	CHECK_EQ_INT(tree_open(t, "/instances/dsw-aaa/Status", &tf), 0);
	if (tf)
		tree_close(tf);
	CHECK_EQ_INT(f.calls, 2);
	tree_free(t);
}

TEST(query_json)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct err_info err;
	char *json = NULL;
	size_t len = 0;
	cJSON *arr;

	CHECK_EQ_INT(tree_query_json(t, "workspaces/40823/status/Running/", &json, &len, &err), 0);
	arr = cJSON_Parse(json);
	CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 1);
	cJSON_Delete(arr);
	free(json);
	CHECK_EQ_INT(tree_query_json(t, "by-name", &json, &len, &err), -ENOENT);
	CHECK(err.message[0] != 0);
	tree_free(t);
}

TEST(ctl_files)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;
	size_t len;
	char *s;

	CHECK_EQ_INT(tree_readdir(t, "/.dswfs", collect, &nm), 0);
	/* metrics is listed; the events feed is not */
	CHECK_EQ_STR(nm.buf, "config last_error refresh stats version metrics ");
	s = read_all(t, "/.dswfs/stats", &len);
	CHECK(s && strstr(s, "api_requests ") && strstr(s, "cache_hits "));
	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/stats", &a), 0);
	free(s);
	s = read_all(t, "/.dswfs/version", &len);
	CHECK(s && !strncmp(s, "dswfs ", 6));
	free(s);
	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/refresh", &a), 0);
	CHECK_EQ_INT(a.mode, 0644);
	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/nope", &a), -ENOENT);
	tree_free(t);
}

TEST(refresh_invalidates_what_changed)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;

	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa", &a), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-bbb", &a), 0);
	f.mutate = 1;
	f.now += 100;	/* past ttl and grace: the next access waits for the refetch */
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(a.size, strlen("Stopped\n"));
	tree_settle(t);
	CHECK(strstr(f.inval, "/instances/dsw-aaa ") != NULL);
	CHECK(strstr(f.inval, "/instances/dsw-aaa/Status ") != NULL);
	CHECK(strstr(f.inval, "/instances/dsw-aaa/RequestedResource/CPU ") != NULL);
	CHECK(strstr(f.inval, "/instances/instances.json ") != NULL);
	CHECK(strstr(f.inval, "/instances ") != NULL);
	CHECK(strstr(f.inval, "/by-name ") != NULL);
	CHECK(strstr(f.inval, "dsw-bbb") == NULL);	/* unchanged */
	/* an explicit refresh invalidates every instance shown */
	f.inval[0] = 0;
	tree_refresh(t);
	CHECK(strstr(f.inval, "/instances/dsw-bbb ") != NULL);
	CHECK(strstr(f.inval, "/instances/dsw-aaa/Status ") != NULL);
	tree_free(t);
}

TEST(stale_while_revalidate)
{
	struct fake f;
	struct tree *t;
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .grace = 30,
		.max_stale = 600, .fetch = fake_fetch, .fetch_ctx = &f, .now = fake_now,
		.now_ctx = &f,
	};
	struct tree_attr a;

	memset(&f, 0, sizeof(f));
	f.now = 1000;
	CHECK_EQ_INT(tree_new(&c, &t), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	f.now += 40;	/* stale within grace: old answer now, refresh behind */
	f.mutate = 1;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(a.size, strlen("Running\n"));
	tree_settle(t);
	CHECK_EQ_INT(f.calls, 2);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(a.size, strlen("Stopped\n"));
	/* the API goes down: the last good answer is served until max_stale */
	f.fail = -EIO;
	f.now += 100;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	f.now += 1000;
	tree_settle(t);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), -EIO);
	tree_free(t);
}

/* ---- local narrowing under type drift ------------------------------------------------------
 * A server that stores ids as strings and filters on them, but sends WorkspaceId as a JSON
 * number (and, for some instances, Status as null or Accessibility as a boolean). Every query
 * directory must list what this server answers for that query, whether dswfs narrows the
 * cached instances/ answer or asks. */

static const struct drift_inst {
	const char *id, *ws, *status, *accel, *pay, *access;
	int status_null, access_bool;
} drift_fleet[] = {
	{ "dsw-d1", "40823", "Running", "GPU", "PayAsYouGo", "PRIVATE", 0, 0 },
	{ "dsw-d2", "40823", "Stopped", "CPU", "Subscription", "PUBLIC", 0, 0 },
	{ "dsw-d3", "7", "Running", "CPU", "PayAsYouGo", "PRIVATE", 0, 0 },
	{ "dsw-d4", "40823", "Running", "CPU", "PayAsYouGo", "PUBLIC", 0, 1 },
	{ "dsw-d5", "7", "Failed", "GPU", "Subscription", "PRIVATE", 1, 0 },
};

struct drift {
	int calls, status_null, access_bool;
	double now;
};

/* value is one parameter; list: a comma list meaning any element. */
static bool drift_param_matches(const char *field, const char *value, bool list)
{
	size_t fl = strlen(field);

	if (!list)
		return strcmp(field, value) == 0;
	for (const char *p = value;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == fl && memcmp(p, field, len) == 0)
			return true;
		if (!comma)
			return false;
		p = comma + 1;
	}
}

static bool drift_selects(const struct drift_inst *d, const struct sign_kv *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *nm = params[i].name, *v = params[i].value;

		if (!strcmp(nm, "WorkspaceId") && strcmp(v, "ALL") && !drift_param_matches(d->ws, v, 0))
			return false;
		if (!strcmp(nm, "Status") && !drift_param_matches(d->status, v, 1))
			return false;
		if (!strcmp(nm, "AcceleratorType") && !drift_param_matches(d->accel, v, 0))
			return false;
		if (!strcmp(nm, "PaymentType") && !drift_param_matches(d->pay, v, 0))
			return false;
		if (!strcmp(nm, "Accessibility") && !drift_param_matches(d->access, v, 0))
			return false;
		if (!strcmp(nm, "InstanceId") && !drift_param_matches(d->id, v, 1))
			return false;
	}
	return true;
}

static int drift_fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **out,
		       struct err_info *err)
{
	struct drift *f = ctx;
	cJSON *res = cJSON_CreateArray();

	(void)err;
	f->calls++;
	for (size_t i = 0; i < sizeof(drift_fleet) / sizeof(drift_fleet[0]); i++) {
		const struct drift_inst *d = &drift_fleet[i];
		cJSON *o;

		if (!drift_selects(d, params, n))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "InstanceId", d->id);
		cJSON_AddNumberToObject(o, "WorkspaceId", atof(d->ws));
		if (d->status_null && f->status_null)
			cJSON_AddNullToObject(o, "Status");
		else
			cJSON_AddStringToObject(o, "Status", d->status);
		cJSON_AddStringToObject(o, "AcceleratorType", d->accel);
		cJSON_AddStringToObject(o, "PaymentType", d->pay);
		if (d->access_bool && f->access_bool)
			cJSON_AddBoolToObject(o, "Accessibility", 1);
		else
			cJSON_AddStringToObject(o, "Accessibility", d->access);
		cJSON_AddItemToArray(res, o);
	}
	*out = res;
	return 0;
}

static double drift_now(void *ctx)
{
	return ((struct drift *)ctx)->now;
}

/* The server's answer for a query path, as a readdir listing would show it. */
static void drift_expected(const char *path, char *out, size_t size)
{
	struct query *base = query_new("ALL", "ALL");
	struct path_info qp;
	struct sign_kv *params = NULL;
	size_t n = 0;

	out[0] = '\0';
	if (!base || path_parse(path, base, &qp)) {
		tf_fail(__FILE__, __LINE__, "cannot parse %s", path);
		query_free(base);
		return;
	}
	CHECK_EQ_INT(query_params(qp.query, &params, &n), 0);
	for (size_t i = 0; i < sizeof(drift_fleet) / sizeof(drift_fleet[0]); i++)
		if (drift_selects(&drift_fleet[i], params, n)) {
			strncat(out, drift_fleet[i].id, size - strlen(out) - 2);
			strcat(out, " ");
		}
	free(params);
	path_free(&qp);
	query_free(base);
}

TEST(narrowing_equals_the_server_under_type_drift)
{
	static const struct {
		const char *path;
		int narrowed;	/* 1: answered from the cached base, 0: the server is asked */
	} cases[] = {
		{ "/workspaces/40823", 1 },
		{ "/workspaces/7", 1 },
		{ "/instances/workspace-id/40823/accelerator-type/CPU", 1 },
		{ "/workspaces/40823/payment-type/PayAsYouGo", 1 },
		{ "/instances/instance-id/dsw-d1,dsw-d5", 1 },
		{ "/workspaces/040823", 0 },		/* a server may read it as 40823 */
		{ "/instances/status/Running", 0 },	/* dsw-d5's Status is null */
		{ "/instances/status/Failed,Stopped", 0 },
		{ "/workspaces/7/accessibility/PRIVATE", 0 },	/* dsw-d4's is a boolean */
	};
	struct drift f = { .now = 1000, .status_null = 1, .access_bool = 1 };
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .max_snapshots = 64,
		.fetch = drift_fetch, .fetch_ctx = &f, .now = drift_now, .now_ctx = &f,
	};
	struct tree *t = NULL;
	struct names nm;
	char want[1024];

	CHECK_EQ_INT(tree_new(&c, &t), 0);
	if (!t)
		return;
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(nm.n, 5);	/* the instances alone: instances.json is not listed */
	/* workspaces/ lists the numeric ids as their directory names */
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "40823 7 ");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int calls = f.calls;

		drift_expected(cases[i].path, want, sizeof(want));
		memset(&nm, 0, sizeof(nm));
		CHECK_EQ_INT(tree_readdir(t, cases[i].path, collect, &nm), 0);
		if (strcmp(nm.buf, want) != 0)
			tf_fail(__FILE__, __LINE__, "ls %s: \"%s\", the server answers \"%s\"",
				cases[i].path, nm.buf, want);
		if ((f.calls == calls) != cases[i].narrowed)
			tf_fail(__FILE__, __LINE__, "%s: %s, expected %s", cases[i].path,
				f.calls == calls ? "narrowed locally" : "asked the server",
				cases[i].narrowed ? "narrowed" : "asked");
	}
	tree_free(t);

	/* Without the odd members the same status and accessibility queries are narrowed. */
	f = (struct drift){ .now = 1000 };
	CHECK_EQ_INT(tree_new(&c, &t), 0);
	if (!t)
		return;
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 1);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/instances/status/Running", collect, &nm), 0);
	drift_expected("/instances/status/Running", want, sizeof(want));
	CHECK_EQ_STR(nm.buf, want);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/7/accessibility/PRIVATE", collect, &nm), 0);
	drift_expected("/workspaces/7/accessibility/PRIVATE", want, sizeof(want));
	CHECK_EQ_STR(nm.buf, want);
	CHECK_EQ_INT(f.calls, 1);
	tree_free(t);
}

static int bad_ids_fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **out,
			 struct err_info *err)
{
	(void)params;
	(void)n;
	(void)err;
	((struct drift *)ctx)->calls++;
	*out = cJSON_Parse("[{\"InstanceId\":\"dsw-ok\"},{\"InstanceId\":\"\"},"
			   "{\"InstanceId\":123456789},{\"InstanceId\":null},\"dsw-str\","
			   "{\"InstanceId\":\"dsw-ok\"}]");
	return *out ? 0 : -ENOMEM;
}

TEST(skipped_instances_are_counted_and_reported)
{
	struct drift f = { .now = 1000 };
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .max_snapshots = 4,
		.fetch = bad_ids_fetch, .fetch_ctx = &f, .now = drift_now, .now_ctx = &f,
	};
	struct tree *t = NULL;
	struct names nm;
	int64_t before = stats_get(STATS_INSTANCES_SKIPPED);
	char *text;
	size_t len;

	CHECK_EQ_INT(tree_new(&c, &t), 0);
	if (!t)
		return;
	memset(&nm, 0, sizeof(nm));
	/* the rest of the fleet is listed, the numeric id as its text */
	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-ok 123456789 ");
	CHECK_EQ_INT(stats_get(STATS_INSTANCES_SKIPPED) - before, 4);
	CHECK_EQ_STR(stats_name(STATS_INSTANCES_SKIPPED), "instances_skipped");
	text = read_all(t, "/.dswfs/last_error", &len);
	CHECK(text && strstr(text, "skipped 4 instance(s) of 6") != NULL);
	CHECK(text && strstr(text, "the other 2 are listed") != NULL);
	free(text);
	tree_free(t);
}

TEST(refresh_refetches_the_base_and_reports_its_failure)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	size_t len;
	char *s;

	CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), 0);
	CHECK_EQ_INT(f.calls, 1);	/* fetched by the refresh, before it returned */
	CHECK(strstr(f.last_params, "WorkspaceId=ALL") != NULL);
	CHECK_EQ_INT(tree_refresh(t), 0);	/* min_interval 0: every request refreshes */
	CHECK_EQ_INT(f.calls, 2);
	f.fail = -EIO;
	CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), -EIO);
	s = read_all(t, "/.dswfs/last_error", &len);
	CHECK(s && strstr(s, "ServiceUnavailableTemporary") && strstr(s, "503"));
	free(s);
	tree_free(t);
}

TEST(refresh_min_interval_follows_the_trees_clock)
{
	struct fake f;
	struct tree *t;
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .fetch = fake_fetch,
		.fetch_ctx = &f, .now = fake_now, .now_ctx = &f, .refresh_min_interval = 1,
	};

	memset(&f, 0, sizeof(f));
	f.now = 1000;
	CHECK_EQ_INT(tree_new(&c, &t), 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), 0);
	CHECK_EQ_INT(f.calls, 1);
	f.now += 1;
	CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), 0);
	CHECK_EQ_INT(f.calls, 2);
	/* SIGHUP's way: in the background, coalesced the same way. */
	CHECK_EQ_INT(tree_refresh_kick(t), 0);
	tree_settle(t);
	CHECK_EQ_INT(f.calls, 2);
	f.now += 1;
	CHECK_EQ_INT(tree_refresh_kick(t), 0);
	tree_settle(t);
	CHECK_EQ_INT(f.calls, 3);
	tree_free(t);
}

TEST(last_error_belongs_to_its_mount)
{
	struct fake f, g;
	struct tree *t = make_tree(&f, false), *u = make_tree(&g, false);
	struct tree_attr a;
	size_t len;
	char *s;

	f.fail = -EIO;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa", &a), -EIO);
	s = read_all(t, "/.dswfs/last_error", &len);
	CHECK(s && strstr(s, "503"));
	free(s);
	s = read_all(u, "/.dswfs/last_error", &len);
	CHECK(s && len == 0);
	free(s);
	tree_free(t);
	tree_free(u);
}

/* What the kernel's caches are keyed and timed by (fsops.c): a file's version follows its
 * bytes, freshness is the rest of the TTL, .dswfs files change without a refresh, and a
 * listed directory's mtime moves off its fresh value once its answer is stale. */
TEST(versions_and_freshness_for_the_kernel)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct tree_attr a, b, c, d, e;
	struct tree_file *tf = NULL;

	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &a), 0);
	CHECK(a.fresh_for > 29.9 && a.fresh_for <= 30);
	CHECK(!a.changing);
	f.now += 10;
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &b), 0);
	CHECK(b.fresh_for > 19.9 && b.fresh_for <= 20);
	CHECK(b.version == a.version);	/* same bytes, same version */
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-bbb/Status", &c), 0);
	CHECK(c.version != a.version);	/* "Stopped\n" is not "Running\n" */
	CHECK_EQ_INT(tree_getattr(t, "/instances", &d), 0);
	CHECK(d.fresh_for > 19.9 && d.mtime_nsec == 0);
	f.mutate = 1;
	CHECK_EQ_INT(tree_write(t, "/.dswfs/refresh"), 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/Status", &b), 0);
	CHECK(b.version != a.version);	/* new bytes, new version */
	CHECK_EQ_INT(b.size, strlen("Stopped\n"));
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa", &e), 0);
	CHECK_EQ_INT(e.type, TREE_DIR);
	/* A stale answer: listed directories say so (fresh_for 0, an mtime no fresh one has). */
	f.now += 31;
	CHECK_EQ_INT(tree_getattr(t, "/instances", &d), 0);
	CHECK(d.fresh_for == 0 && d.mtime_nsec == 1);
	CHECK_EQ_INT(tree_getattr(t, "/instances/status", &d), 0);
	CHECK(d.fresh_for == 0 && d.mtime_nsec == 1);
	/* .dswfs files change without a refresh: never cached by time, bytes and size together. */
	CHECK_EQ_INT(tree_open_attr(t, "/.dswfs/stats", &a, &tf), 0);
	CHECK(a.changing && a.fresh_for == 0);
	CHECK_EQ_INT(a.size, tree_file_size(tf));
	tree_close(tf);
	CHECK_EQ_INT(tree_getattr(t, "/instances/.query", &a), 0);
	CHECK(a.changing);
	tree_free(t);
}

/* A tree with a short TTL and stale-on-error, on the fake clock. */
static struct tree *make_short_tree(struct fake *f, double max_stale)
{
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 10, .max_snapshots = 16,
		.max_stale = max_stale, .fetch = fake_fetch, .fetch_ctx = f, .now = fake_now,
		.now_ctx = f,
	};
	struct tree *t = NULL;

	memset(f, 0, sizeof(*f));
	f->now = 1000;
	CHECK_EQ_INT(tree_new(&c, &t), 0);
	return t;
}

static double query_age(struct tree *t, const char *path)
{
	size_t len;
	char *s = read_all(t, path, &len);
	const char *a = s ? strstr(s, "age_seconds ") : NULL;
	double age = a ? atof(a + strlen("age_seconds ")) : -1;

	free(s);
	return age;
}

TEST(narrowed_answer_is_as_old_as_its_base)
{
	struct fake f;
	struct tree *t = make_short_tree(&f, 0);
	struct names nm = { "", 0 };

	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 1);
	f.now += 9;
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/7", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-ccc ");
	CHECK_EQ_INT(f.calls, 1);	/* narrowed from the base */
	CHECK(query_age(t, "/workspaces/7/.query") >= 9.0);
	/* 14 s after the base was fetched with ttl 10: not fresh, whatever the narrowing's age */
	f.now += 5;
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/7", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 2);
	CHECK(query_age(t, "/workspaces/7/.query") < 1.0);
	tree_free(t);
}

TEST(outage_narrows_from_the_stale_base)
{
	struct fake f;
	struct tree *t = make_short_tree(&f, 600);
	struct names nm = { "", 0 };
	struct tree_attr a;
	size_t len;
	char *s;

	CHECK_EQ_INT(tree_readdir(t, "/instances", collect, &nm), 0);
	CHECK_EQ_INT(f.calls, 1);
	f.fail = -EIO;
	f.now += 100;
	/* never listed before, server down, base stale but within max_stale: answered from it */
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/40823/status/Running", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa ");
	CHECK(f.calls >= 2);	/* the server was asked first */
	CHECK(query_age(t, "/workspaces/40823/status/Running/.query") >= 100.0);
	CHECK_EQ_INT(tree_getattr(t, "/workspaces/40823/status/Running/dsw-aaa/Status", &a), 0);
	CHECK_EQ_INT(a.size, strlen("Running\n"));
	/* the failure is not hidden */
	s = read_all(t, "/.dswfs/last_error", &len);
	CHECK(s && strstr(s, "ServiceUnavailableTemporary") && strstr(s, "WorkspaceId=40823"));
	free(s);
	/* what cannot be narrowed still fails */
	CHECK_EQ_INT(tree_readdir(t, "/instances/min-cpu/4", collect, &nm), -EIO);
	/* past max_stale the base is no longer used */
	f.now += 600;
	CHECK_EQ_INT(tree_readdir(t, "/workspaces/7", collect, &nm), -EIO);
	tree_free(t);
}

TEST(instance_files_render_on_read_and_listings_render_no_json)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a;
	size_t len;
	char *whole, *cpu;

	CHECK_EQ_INT(tree_readdir(t, "/instances/dsw-aaa", collect, &nm), 0);
	/* instance.json is read by name, not listed */
	CHECK(!strstr(nm.buf, "instance.json ") && strstr(nm.buf, "Labels.json ") &&
	      strstr(nm.buf, "RequestedResource "));
	cpu = read_all(t, "/instances/dsw-aaa/RequestedResource/CPU", &len);
	CHECK_EQ_STR(cpu, "4\n");
	whole = read_all(t, "/instances/dsw-aaa/instance.json", &len);
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/instance.json", &a), 0);
	CHECK(whole && a.size == (off_t)len && len == strlen(whole) && whole[0] == '{');
	CHECK(whole && strstr(whole, "\n\t\"RequestedResource\":\t{\n\t\t\"CPU\":\t\"4\","));
	free(whole);
	free(cpu);
	tree_free(t);
}

/* The change feeds: growing files, never listed, fed by refreshes (with the tree's clock). */
TEST(feeds_grow_with_each_refresh_and_are_not_listed)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct names nm = { "", 0 };
	struct tree_attr a, b;
	char buf[4096];
	size_t n = 0;

	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/events", &a), 0);
	CHECK(a.growing && a.type == TREE_FILE && a.size == 0 && a.fresh_for == 0 && a.version == 0);
	CHECK_EQ_INT(tree_getattr(t, "/instances/status/Running/.events", &b), 0);
	CHECK(b.growing && b.size == 0);
	CHECK_EQ_INT(tree_readdir(t, "/instances/status/Running", collect, &nm), 0);
	CHECK(!strstr(nm.buf, "events"));
	CHECK_EQ_INT(tree_getattr(t, "/instances/dsw-aaa/.events", &a), -ENOENT);
	/* dsw-aaa stops: a change on events, a removal from Running */
	f.mutate = 1;
	CHECK_EQ_INT(tree_refresh(t), 0);
	f.now += 31;	/* the Running answer expires: its next read refetches it */
	CHECK_EQ_INT(tree_getattr(t, "/instances/status/Running/.events", &b), 0);
	CHECK_EQ_INT(tree_readdir(t, "/instances/status/Running", collect, &nm), 0);
	tree_settle(t);
	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/events", &a), 0);
	CHECK(a.size > 0 && a.version == 0);
	CHECK_EQ_INT(tree_feed_read(t, "/.dswfs/events", buf, sizeof(buf) - 1, 0, &n), 0);
	buf[n] = 0;
	CHECK(strstr(buf, "\"kind\":\"changed\"") && strstr(buf, "\"InstanceId\":\"dsw-aaa\""));
	CHECK(strstr(buf, "\"old\":\"Running\",\"new\":\"Stopped\""));
	CHECK(!strstr(buf, "hunter2"));
	CHECK_EQ_INT(tree_getattr(t, "/instances/status/Running/.events", &b), 0);
	CHECK(b.size > 0);
	CHECK_EQ_INT(tree_feed_read(t, "/instances/status/Running/.events", buf, sizeof(buf) - 1, 0,
				    &n), 0);
	buf[n] = 0;
	CHECK(strstr(buf, "\"kind\":\"removed\"") && strstr(buf, "dsw-aaa"));
	CHECK_EQ_INT(tree_feed_read(t, "/.dswfs/stats", buf, 10, 0, &n), -ENOTSUP);
	{
		size_t len;
		char *s = read_all(t, "/.dswfs/stats", &len);

		CHECK(s && strstr(s, "feeds_followed 2\n"));
		free(s);
	}
	tree_free(t);
}

TEST(metrics_file)
{
	struct fake f;
	struct tree *t = make_tree(&f, false);
	struct tree_attr a;
	size_t len;
	char *s;

	CHECK_EQ_INT(tree_getattr(t, "/.dswfs/metrics", &a), 0);
	CHECK(a.changing && a.type == TREE_FILE);
	s = read_all(t, "/.dswfs/metrics", &len);
	CHECK(s && strstr(s, "dswfs_fleet_up 1\n"));
	CHECK(s && strstr(s, "dswfs_instances{region=\"\",workspace_id=\"40823\",status=\"Running\","
			     "accelerator_type=\"GPU\",payment_type=\"\"} 1\n"));
	CHECK(s && strstr(s, "dswfs_requested_cpu_cores{region=\"\",workspace_id=\"40823\","
			     "status=\"Running\"} 4\n"));
	free(s);
	tree_free(t);
}

/* Several regions (multi.c in production): two regions' trees under regions/<id>/ and a union
 * tree whose fetch_snap merges their answers. Both fakes serve the same fleet, so every
 * InstanceId is returned twice. */
struct two {
	struct tree *sub[2];
};

static int two_fetch(void *ctx, const struct query *q, struct snap **out, struct err_info *err)
{
	static const char *const ids[] = { "r1", "r2" };
	struct two *w = ctx;
	struct merge_part parts[2];
	struct snap *s[2] = { NULL, NULL };
	struct err_info e[2];
	int rc[2];

	for (int i = 0; i < 2; i++) {
		rc[i] = tree_get_query(w->sub[i], q, &s[i], NULL, &e[i]);
		parts[i] = (struct merge_part){ ids[i], rc[i] ? NULL : s[i], false,
						rc[i] ? e[i].message : NULL };
	}
	rc[0] = merge_snaps(parts, 2, out);
	if (rc[0] == 0)
		snap_set_stamp(*out, 1000);
	else
		snprintf(err->message, sizeof(err->message), "both failed");
	for (int i = 0; i < 2; i++)
		if (parts[i].snap)
			snap_unref(s[i]);
	return rc[0];
}

TEST(regions_routing)
{
	static const char *const names[] = { "r1", "r2" };
	struct fake f[2];
	struct two w;
	struct ctl *ctl = ctl_new();
	struct tree *u = NULL, *one;
	struct tree_config c = {
		.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .max_snapshots = 16,
		.fetch_snap = two_fetch, .fetch_ctx = &w, .now = fake_now, .now_ctx = &f[0],
		.subs = w.sub, .sub_names = names, .nsubs = 2, .ctl = ctl,
	};
	struct names nm = { "", 0 };
	struct tree_attr a;
	size_t len;
	char *text;

	for (int i = 0; i < 2; i++) {
		struct tree_config sc = {
			.workspace_id = "ALL", .resource_id = "ALL", .ttl = 30, .max_snapshots = 16,
			.fetch = fake_fetch, .fetch_ctx = &f[i], .now = fake_now, .now_ctx = &f[i],
			.region = names[i], .sub = true, .ctl = ctl,
		};

		memset(&f[i], 0, sizeof(f[i]));
		f[i].now = 1000;
		CHECK_EQ_INT(tree_new(&sc, &w.sub[i]), 0);
	}
	CHECK_EQ_INT(tree_new(&c, &u), 0);
	CHECK_EQ_INT(tree_readdir(u, "/", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "instances workspaces by-name .dswfs workspaces-by-name users users-by-name regions ");
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/regions", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "r1 r2 ");
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/regions/r2", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "instances workspaces by-name workspaces-by-name users users-by-name ");
	CHECK_EQ_INT(tree_getattr(u, "/regions/r2/.dswfs", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(u, "/regions/r2/.dswfs/stats", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(u, "/regions/r3", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(u, "/regionsx", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(u, "/regions", &a), 0);
	CHECK_EQ_INT(a.type, TREE_DIR);
	CHECK_EQ_INT(tree_writable(u, "/regions/r1/.dswfs/refresh"), -ENOENT);
	CHECK_EQ_INT(tree_writable(u, "/.dswfs/refresh"), 0);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/regions/r1/instances", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa dsw-bbb dsw-ccc ");
	text = read_all(u, "/regions/r1/instances/dsw-aaa/.region", &len);
	CHECK_EQ_STR(text, "r1\n");
	free(text);
	/* The union: every instance of both, the repeated ids suffixed, nothing dropped. */
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/instances", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa@r1 dsw-bbb@r1 dsw-ccc@r1 dsw-aaa@r2 dsw-bbb@r2 dsw-ccc@r2 ");
	text = read_all(u, "/instances/dsw-bbb@r2/.region", &len);
	CHECK_EQ_STR(text, "r2\n");
	free(text);
	text = read_all(u, "/instances/dsw-bbb@r2/InstanceId", &len);
	CHECK_EQ_STR(text, "dsw-bbb\n");
	free(text);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/instances/status/Running", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa@r1 dsw-ccc@r1 dsw-aaa@r2 dsw-ccc@r2 ");
	/* Each region was asked once: the union's walk and the regions' share their answers. */
	CHECK_EQ_INT(f[0].calls, 1);
	CHECK_EQ_INT(f[1].calls, 1);
	/* .region is lookup-only. */
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/instances/dsw-aaa@r1", collect, &nm), 0);
	CHECK(strstr(nm.buf, ".region") == NULL);
	/* A region failing: the union keeps the other, says what is missing; the region's own
	 * tree fails with its error, named in last_error. */
	f[1].fail = -EIO;
	CHECK_EQ_INT(tree_refresh(u), 0);
	memset(&nm, 0, sizeof(nm));
	CHECK_EQ_INT(tree_readdir(u, "/instances", collect, &nm), 0);
	CHECK_EQ_STR(nm.buf, "dsw-aaa dsw-bbb dsw-ccc ");
	text = read_all(u, "/instances/.query", &len);
	CHECK(text && strstr(text, "region r2 missing: ") && strstr(text, "complete 0\nmissing r2\n"));
	free(text);
	CHECK_EQ_INT(tree_readdir(u, "/regions/r2/instances", collect, &nm), -EIO);
	text = ctl_render(ctl, CTL_LAST_ERROR, NULL, &len);
	CHECK(text && strstr(text, "query: [r2] ResourceId=ALL&WorkspaceId=ALL"));
	free(text);
	tree_free(u);
	tree_free(w.sub[0]);
	tree_free(w.sub[1]);
	ctl_free(ctl);
	/* A one-region mount has no .region. */
	one = make_tree(&f[0], false);
	CHECK_EQ_INT(tree_getattr(one, "/instances/dsw-aaa/.region", &a), -ENOENT);
	CHECK_EQ_INT(tree_getattr(one, "/regions", &a), -ENOENT);
	tree_free(one);
}
