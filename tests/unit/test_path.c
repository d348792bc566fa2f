/* test_path: the mount path grammar: views, ids that cannot exist, "did you mean" hints. (The
 * queries paths build are test_query's.) */
#include <errno.h>
#include <string.h>

#include "path.h"
#include "query.h"
#include "tf.h"

static int node_of(const char *path, struct path_info *out)
{
	struct query *base = query_new("ALL", "ALL");
	int rc = path_parse(path, base, out);

	query_free(base);
	return rc ? rc : (int)out->node;
}

TEST(top_entries)
{
	static const char *const want[] = {
		"instances", "workspaces", "by-name", ".dswfs", "workspaces-by-name", "users",
		"users-by-name",
	};
	struct path_info p;
	size_t i;

	for (i = 0; path_top_entry(i); i++) {
		char path[64] = "/";

		CHECK(i < sizeof(want) / sizeof(want[0]));
		if (i >= sizeof(want) / sizeof(want[0]))
			break;
		CHECK_EQ_STR(path_top_entry(i), want[i]);
		/* every entry of the root resolves */
		strcat(path, path_top_entry(i));
		CHECK(node_of(path, &p) >= 0);
		path_free(&p);
	}
	CHECK_EQ_INT(i, sizeof(want) / sizeof(want[0]));
}

TEST(link_views)
{
	static const struct {
		const char *path;
		enum path_node node;
		enum path_view view;
		const char *name;
	} cases[] = {
		{ "/by-name", PATH_LINK_DIR, PATH_VIEW_INSTANCES, NULL },
		{ "/by-name/alpha", PATH_LINK, PATH_VIEW_INSTANCES, "alpha" },
		{ "/workspaces-by-name", PATH_LINK_DIR, PATH_VIEW_WORKSPACES, NULL },
		{ "/workspaces-by-name/training_data", PATH_LINK, PATH_VIEW_WORKSPACES,
		  "training_data" },
		{ "/workspaces-by-name/a%2Fb@40823", PATH_LINK, PATH_VIEW_WORKSPACES,
		  "a%2Fb@40823" },
		{ "/users-by-name", PATH_LINK_DIR, PATH_VIEW_USERS, NULL },
		{ "/users-by-name/\xe6\xb5\x8b\xe8\xaf\x95\n", PATH_LINK, PATH_VIEW_USERS,
		  "\xe6\xb5\x8b\xe8\xaf\x95\n" },
	};
	struct path_info p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ_INT(node_of(cases[i].path, &p), cases[i].node);
		CHECK_EQ_INT(p.view, cases[i].view);
		CHECK(p.query == NULL);
		if (cases[i].name)
			CHECK_EQ_STR(p.name, cases[i].name);
		path_free(&p);
	}
	/* links are leaves */
	CHECK_EQ_INT(node_of("/workspaces-by-name/a/b", &p), -ENOENT);
	CHECK_EQ_INT(node_of("/users-by-name/a/status", &p), -ENOENT);
	CHECK_EQ_STR(path_view_dir(PATH_VIEW_INSTANCES), "instances");
	CHECK_EQ_STR(path_view_dir(PATH_VIEW_WORKSPACES), "workspaces");
	CHECK_EQ_STR(path_view_dir(PATH_VIEW_USERS), "users");
	CHECK(path_view_dir(PATH_VIEW__COUNT) == NULL);
}

TEST(id_views_are_query_dirs)
{
	struct path_info p;

	CHECK_EQ_INT(node_of("/workspaces", &p), PATH_ID_DIR);
	CHECK_EQ_INT(p.key, QK_WORKSPACE_ID);
	path_free(&p);
	CHECK_EQ_INT(node_of("/users", &p), PATH_ID_DIR);
	CHECK_EQ_INT(p.key, QK_CREATE_USER_ID);
	path_free(&p);
	CHECK_EQ_INT(node_of("/users/1612285282502324", &p), PATH_QUERY_DIR);
	CHECK_EQ_STR(query_canonical(p.query),
		     "CreateUserId=1612285282502324&ResourceId=ALL&WorkspaceId=ALL");
	path_free(&p);
	/* the same query as the filter key */
	CHECK_EQ_INT(node_of("/instances/create-user-id/1612285282502324", &p), PATH_QUERY_DIR);
	CHECK_EQ_STR(query_canonical(p.query),
		     "CreateUserId=1612285282502324&ResourceId=ALL&WorkspaceId=ALL");
	path_free(&p);
	CHECK_EQ_INT(node_of("/users/7/status/Running/dsw-1/Status", &p), PATH_INSTANCE);
	CHECK_EQ_STR(p.name, "dsw-1");
	CHECK_EQ_STR(p.rest, "Status");
	path_free(&p);
	CHECK_EQ_INT(node_of("/users/7/create-user-id", &p), -ENOENT);	/* set by the path */
	CHECK_EQ_INT(node_of("/users/7/instances.json", &p), PATH_INSTANCES_JSON);
	path_free(&p);
}

TEST(ids_that_cannot_exist_are_enoent)
{
	static const char *const gone[] = {
		"/workspaces/abc", "/workspaces/abc/status/Running", "/workspaces/40823x",
		"/workspaces/ 40823", "/workspaces/4.0823", "/users/abc", "/users/ALL",
		"/users/-1", "/users/12345*****67890", "/instances/workspace-id/abc",
		"/instances/create-user-id/bob", "/instances/create-time-after/2025-13-01",
		"/instances/create-time-after/yesterday", "/instances/min-cpu/-1",
		"/instances/status/Run ning", "/instances/accelerator-type/G.P.U",
	};
	struct path_info p;

	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		int rc = node_of(gone[i], &p);

		if (rc != -ENOENT)
			tf_fail(__FILE__, __LINE__, "%s: %d, expected -ENOENT", gone[i], rc);
		CHECK(p.query == NULL);
	}
	/* well-formed but undocumented enumeration values exist as far as the path goes */
	CHECK_EQ_INT(node_of("/instances/status/Paused", &p), PATH_QUERY_DIR);
	path_free(&p);
	CHECK_EQ_INT(node_of("/instances/accelerator-type/NPU", &p), PATH_QUERY_DIR);
	path_free(&p);
}

TEST(plain_dates_are_the_api_timestamp)
{
	struct path_info p;

	CHECK_EQ_INT(node_of("/instances/create-time-after/2025-01-01", &p), PATH_QUERY_DIR);
	CHECK_EQ_STR(query_canonical(p.query),
		     "CreateTimeAfter=2025-01-01T00%3A00%3A00Z&ResourceId=ALL&WorkspaceId=ALL");
	path_free(&p);
	CHECK_EQ_INT(node_of("/instances/create-time-after/2025-01-01T00:00:00Z", &p),
		     PATH_QUERY_DIR);
	CHECK_EQ_STR(query_canonical(p.query),
		     "CreateTimeAfter=2025-01-01T00%3A00%3A00Z&ResourceId=ALL&WorkspaceId=ALL");
	path_free(&p);
	CHECK_EQ_INT(node_of("/workspaces/40823/create-time-before/2024-02-29/dsw-1", &p),
		     PATH_INSTANCE);
	CHECK_EQ_STR(query_canonical(p.query), "CreateTimeBefore=2024-02-29T00%3A00%3A00Z"
		     "&ResourceId=ALL&WorkspaceId=40823");
	path_free(&p);
}

TEST(component_rules)
{
	CHECK(path_component_ok("a", 1));
	CHECK(path_component_ok("...", 3));
	CHECK(path_component_ok(".query", 6));
	CHECK(!path_component_ok("", 0));
	CHECK(!path_component_ok(".", 1));
	CHECK(!path_component_ok("..", 2));
	CHECK(!path_component_ok("a/b", 3));
	CHECK(!path_component_ok("a", PATH_NAME_MAX + 1));
}

/* The hint for path, or "" when there is none. */
static const char *hint_of(const char *path, char *buf, size_t size)
{
	if (!path_hint(path, buf, size))
		buf[0] = 0;
	return buf;
}

TEST(did_you_mean)
{
	char b[256];

	CHECK_EQ_STR(hint_of("/instances/stauts", b, sizeof(b)),
		     "no filter key \"stauts\": did you mean \"status\"?");
	CHECK_EQ_STR(hint_of("/instances/Status/Running", b, sizeof(b)),
		     "no filter key \"Status\": did you mean \"status\"?");
	CHECK_EQ_STR(hint_of("/workspaces/40823/min_cpu", b, sizeof(b)),
		     "no filter key \"min_cpu\": did you mean \"min-cpu\"?");
	CHECK_EQ_STR(hint_of("/instances/status/Runing", b, sizeof(b)),
		     "status/Runing: not a documented value (the server decides); did you mean "
		     "Running?");
	CHECK_EQ_STR(hint_of("/instances/status/Running,stopped", b, sizeof(b)),
		     "status/Running,stopped: not a documented value (the server decides); did "
		     "you mean Stopped?");
	CHECK_EQ_STR(hint_of("/instances/accessibility/public/dsw-1", b, sizeof(b)),
		     "accessibility/public: not a documented value (the server decides); did you "
		     "mean PUBLIC?");
	CHECK_EQ_STR(hint_of("/instances/status/Run ning", b, sizeof(b)),
		     "status/Run ning names nothing: did you mean status/Running?");
	CHECK_EQ_STR(hint_of("/instances/status/x y", b, sizeof(b)),
		     "status/x y names nothing: not a valid status value");
	CHECK_EQ_STR(hint_of("/instances/create-time-after/2025-1-1", b, sizeof(b)),
		     "create-time-after/2025-1-1 names nothing: not a valid create-time-after "
		     "value");
	CHECK_EQ_STR(hint_of("/instances/status/Paused", b, sizeof(b)),
		     "status/Paused: not a documented value (the server decides)");
	CHECK_EQ_STR(hint_of("/workspaces/abc", b, sizeof(b)),
		     "workspaces/abc names nothing: a workspace id is decimal digits (or ALL)");
	CHECK_EQ_STR(hint_of("/users/bob/status", b, sizeof(b)),
		     "users/bob names nothing: a user id is decimal digits");
	/* nothing to say: instance ids, good paths, other trees */
	CHECK_EQ_STR(hint_of("/instances/dsw-730xxxxxxxxxx", b, sizeof(b)), "");
	CHECK_EQ_STR(hint_of("/instances/status/Running/dsw-1/Status", b, sizeof(b)), "");
	CHECK_EQ_STR(hint_of("/by-name/stauts", b, sizeof(b)), "");
	CHECK_EQ_STR(hint_of("/instances/ab", b, sizeof(b)), "");	/* too short to guess */
	CHECK_EQ_STR(hint_of("/", b, sizeof(b)), "");
	CHECK_EQ_STR(hint_of("/instances//stauts", b, sizeof(b)), "");
	CHECK_EQ_INT(path_hint(NULL, b, sizeof(b)), 0);
	/* a short buffer is cut, never overrun */
	CHECK_EQ_INT(path_hint("/instances/stauts", b, 8), 1);
	CHECK_EQ_INT(strlen(b), 7);
}
