/* path: the mount's path grammar (query directories, id views, link views, .dswfs) over
 * query.h's filters. Pure: what a path names, never whether it exists. */
#ifndef DSWFS_PATH_H
#define DSWFS_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "query.h"

/* Longest path component the kernel passes (NAME_MAX). */
#define PATH_NAME_MAX 255

/* What a mount path names. */
enum path_node {
	PATH_ROOT,		/* / */
	PATH_QUERY_DIR,		/* instances/, workspaces/<id>/, users/<id>/, and
				 * <query dir>/<key>/<value>/ */
	PATH_KEY_DIR,		/* <query dir>/<key>/, for a key the query can still take */
	PATH_INSTANCES_JSON,	/* <query dir>/instances.json */
	PATH_QUERY_INFO,	/* <query dir>/.query */
	PATH_INSTANCE,		/* <query dir>/<InstanceId>[/<path below it>] */
	PATH_ID_DIR,		/* workspaces/ or users/ (key: QK_WORKSPACE_ID, QK_CREATE_USER_ID) */
	PATH_LINK_DIR,		/* by-name/, workspaces-by-name/, users-by-name/ (view says which) */
	PATH_LINK,		/* <link dir>/<name> */
	PATH_CTL_DIR,		/* .dswfs/ */
	PATH_CTL_FILE,		/* .dswfs/<name> */
	PATH_EVENTS,		/* <query dir>/.events (lookup only, never listed) */
};

/* The link views: names of instances, workspaces, users. */
enum path_view { PATH_VIEW_INSTANCES, PATH_VIEW_WORKSPACES, PATH_VIEW_USERS, PATH_VIEW__COUNT };

struct path_info {
	enum path_node node;
	struct query *query;	/* owned; the enclosing query dir's query for PATH_QUERY_DIR,
				 * PATH_KEY_DIR, PATH_INSTANCES_JSON, PATH_QUERY_INFO,
				 * PATH_INSTANCE, PATH_EVENTS; NULL otherwise */
	enum query_key key;	/* PATH_KEY_DIR, PATH_ID_DIR */
	enum path_view view;	/* PATH_LINK_DIR, PATH_LINK */
	const char *name;	/* NUL-terminated: the instance directory name (PATH_INSTANCE), the
				 * entry (PATH_LINK, PATH_CTL_FILE); points into the parsed path,
				 * or into name_buf when more of the path follows it */
	const char *rest;	/* PATH_INSTANCE: the path below the instance directory, no leading
				 * '/', "" for the directory itself; points into the parsed path */
	char name_buf[PATH_NAME_MAX + 1];	/* private: storage for name */
};

/* Parses an absolute mount path ("/", "/instances/status/Running/dsw-1/Status", ...). Only the
 * shape is checked: whether an instance exists is the caller's business. workspaces/<v> and
 * users/<v> take what the workspace-id and create-user-id keys take (query_value_valid: ids
 * the API can have). The path must outlive out->name and out->rest. Returns 0 (free with
 * path_free), -ENOENT for a path that cannot exist (unknown top-level entry, invalid value, a
 * key used twice, a name that is neither a key, a reserved file nor a plausible instance id),
 * -ENAMETOOLONG, -ENOMEM. */
int path_parse(const char *path, const struct query *base, struct path_info *out);

void path_free(struct path_info *p);

/* Whether s (len bytes) can be typed as one path component and means itself there: non-empty,
 * at most PATH_NAME_MAX bytes, no '/', not "." or "..". */
bool path_component_ok(const char *s, size_t len);

/* The i-th entry of the root directory, or NULL past the last. Static storage. */
const char *path_top_entry(size_t i);

/* The directory a link view's entries point into ("workspaces", ...): a link reads
 * "../<dir>/<target>". Static storage. */
const char *path_view_dir(enum path_view v);

/* A "did you mean" hint for a path that names nothing or asks for an undocumented value: a
 * misspelt filter key ("stauts"), a value that is not valid for its key, or an enumeration
 * value the documentation does not list ("status/Runing"), with the closest known spelling
 * when one is close. Writes one line (no newline) into buf and returns 1, or returns 0 when
 * there is nothing to say. Pure; costs a parse. */
int path_hint(const char *path, char *buf, size_t size);

#endif
