/* multi: a mount of several regions: each region's API client and tree (shown under
 * regions/<id>/), and the union tree on top whose answers merge theirs. */
#ifndef DSWFS_MULTI_H
#define DSWFS_MULTI_H

#include <stddef.h>

#include "api.h"
#include "err.h"
#include "sign.h"
#include "tree.h"

struct multi_config {
	char *const *regions;		/* region ids, distinct (region_list_parse) */
	const char *const *endpoints;	/* each region's endpoint, same order */
	size_t nregions;
	const struct api_config *api;	/* every client's settings but the endpoint */
	struct creds_provider *creds;	/* shared by every client (borrowed) */
	/* Settings of every tree; fetch and the multi-region fields are set here. invalidate and
	 * invalidate_listing (with invalidate_ctx) are the mount's: regions' trees reach them
	 * with their paths under regions/<id>. max_bytes is shared out among the trees. */
	const struct tree_config *tree;
};

struct multi;

/* Returns 0 and *out (free with multi_free), or -errno with err->message saying which region's
 * client could not be made (a bad endpoint) or -ENOMEM. */
int multi_new(const struct multi_config *cfg, struct multi **out, struct err_info *err);

/* The union tree (owned by m): the mount's tree. */
struct tree *multi_tree(struct multi *m);

/* Tries every region at once with one small request (api_probe). errs[i] (nregions of them)
 * gets region i's failure, or err 0. Returns how many regions failed. */
size_t multi_probe(struct multi *m, const struct sign_kv *base, size_t nbase,
		   struct err_info *errs);

/* Aborts every client's transfers (api_client_abort). Thread-safe. */
void multi_abort(struct multi *m);

/* Frees the union tree, the regions' trees and clients. NULL is fine. */
void multi_free(struct multi *m);

#endif
