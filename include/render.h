/* render: an instance's JSON object as a tree of files (names escaped, secrets redacted). Pure. */
#ifndef DSWFS_RENDER_H
#define DSWFS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <cjson/cJSON.h>

/* Longest file name produced, NUL included. */
#define RENDER_NAME_MAX 256

/* What replaces a secret value. */
#define RENDER_REDACTED "<redacted>"

/* Escapes a JSON member name or an instance name into a valid, unambiguous file name:
 * '%', '/' and control bytes (0x00-0x1f, 0x7f) become %XX (upper-case hex); a leading '.'
 * becomes "%2E" (nothing is hidden from ls), so "." and ".." become "%2E" and "%2E%2E"; the
 * empty name becomes "%00"; a result longer than 255 bytes is cut at a
 * UTF-8 boundary and ends in "~" and 8 hex digits of a hash of the whole name. */
void render_escape_name(const char *name, char out[RENDER_NAME_MAX]);

/* render_escape_name(name) followed by suffix (taken verbatim, at most 64 bytes), which is
 * kept whole when the name must be cut: "<id>@<region>" for an InstanceId that several regions
 * return. */
void render_escape_name_suffix(const char *name, const char *suffix, char out[RENDER_NAME_MAX]);

/* A deep copy of inst with secrets replaced by RENDER_REDACTED: ImageAuth, every scalar under
 * CredentialConfig (structure and names kept), every value of EnvironmentVariables (names
 * kept), and any other member whose name contains "Password", "Secret", "Token", "AccessKey"
 * or "PrivateKey" (ServiceConfig's CodeServerPassword and JupyterServerPassword; the *Auth
 * members name a mode and stay). With show_secrets a plain copy. Caller cJSON_Deletes; NULL
 * on ENOMEM.
 * Names are matched case-insensitively at any depth (inside objects and objects within
 * arrays), every repeat of a name included; the three named rules come first. A member
 * secret by its name alone, and a secret of an unexpected type (ImageAuth an object,
 * CredentialConfig a string), becomes the string RENDER_REDACTED whole, whatever its type: an
 * object or array under such a name loses its structure too, since its member names may be
 * secrets themselves. Null stays null (it hides nothing and renders as no file). */
cJSON *render_redact(const cJSON *inst, bool show_secrets);

/* Pretty-printed JSON of item followed by "\n". Caller frees; NULL on ENOMEM. *len = length. */
char *render_json(const cJSON *item, size_t *len);

/* Appends item as compact JSON text that cJSON_Parse reads back as the same value: numbers
 * exact (as render_scalar prints them; non-finite ones as null), strings byte for byte,
 * members in order, repeats kept. Returns 0 or buf_append's -EFBIG / -ENOMEM. */
struct buf;
int render_compact(const cJSON *item, struct buf *out);

/* The content of a scalar member's file: a string's value, a number in JSON form (integers
 * without a fraction), true/false; each followed by "\n". NULL for null, objects and arrays,
 * or on ENOMEM. Caller frees.
 * Numbers: integral values in [-2^53, 2^53] print as integers ("3600000", never "-0"); others
 * with the fewest of 15, 16 or 17 significant digits that read back as the same double, in %g
 * form ("0.5", "1e+20", "0.30000000000000004"). A non-finite number (cJSON reads 1e999 as inf)
 * is treated as null, as cJSON_Print does. */
char *render_scalar(const cJSON *item, size_t *len);

/* A rendered directory or file. Its shape is immutable once built and a file's bytes are
 * rendered on first read and then kept, published atomically, so any number of threads may
 * read it. */
struct render_node;

/* The tree of one (already redacted) instance object: scalars as files named like the member,
 * objects as directories built the same way, arrays as "<Member>.json", null members left out,
 * plus "instance.json" (the whole object) at the top. When two members escape to the same name
 * the first wins ("instance.json" at the top always holds the whole object). "<Member>.json"
 * is the escaped name plus ".json" (a cut name keeps the suffix). Objects more than 32
 * directories below the instance become "<Member>.json" files too, which bounds recursion and
 * path length. Only names and shape are built: a file's bytes are rendered when first asked
 * for (render_data), so reading one scalar never renders the rest. The tree borrows inst,
 * which must outlive it. Returns 0 and *out (free with render_free), -EINVAL when inst is not
 * an object, -ENOMEM. */
int render_instance(const cJSON *inst, struct render_node **out);

/* The node at relpath below root ("" is root itself, "RequestedResource/CPU"), or NULL (an
 * empty component, as in "a//b" or "a/", names nothing). Cost: one binary search per
 * component. */
const struct render_node *render_lookup(const struct render_node *root, const char *relpath);

bool render_is_dir(const struct render_node *n);

/* A file's bytes (owned by the tree, rendered on first call) and size; NULL with size 0 for a
 * directory, or on ENOMEM. */
const char *render_data(const struct render_node *n, size_t *size);

/* A file's size when it is known without rendering anything big (its bytes were rendered
 * already, or it is a scalar): true and *size; false for other files and directories. */
bool render_size_known(const struct render_node *n, size_t *size);

/* A directory's children, sorted by name; 0 / NULL for a file. */
size_t render_nchildren(const struct render_node *n);
const struct render_node *render_child(const struct render_node *n, size_t i);
const char *render_name(const struct render_node *n);

/* Total bytes of all files below n (renders every one of them: tests and fuzzing). */
size_t render_bytes(const struct render_node *n);

void render_free(struct render_node *root);

#endif
