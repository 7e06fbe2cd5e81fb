/*
 * A TEST MODEL OF FreeBSD's libnv -- this is NOT libnv.
 *
 * Written for ovpnctl's test suite from the project's wire-format fact sheet
 * (shared/spec/libnv-wire-format.md, sections 2-7 and 10) and the golden
 * vectors' README, not from libnv's sources. It exists so that the cffi
 * ABI-mode binding in nvlist_ffi/libnv.py can be exercised on Linux, where no
 * libnv is installed: the test fixture compiles this file into a shared
 * object called libnv.so.1 whose exported names carry the FreeBSD_ prefix
 * (NVMODEL_PREFIX), exactly like FreeBSD 14's /lib/libnv.so.1.
 *
 * What is modelled, with libnv's observable semantics as the sheet states
 * them:
 *   - sticky per-list errors: the first failure is recorded, later adds are
 *     ignored, nvlist_pack() fails with that error;
 *   - EEXIST for duplicate names (ASCII case-insensitive with
 *     NV_FLAG_IGNORE_CASE, allowed with NV_FLAG_NO_UNIQUE), ENAMETOOLONG for
 *     names of 2048 bytes or more, EINVAL for empty binaries and arrays and
 *     NULL string-array elements;
 *   - abort() wherever libnv asserts: nvlist_create/nvlist_unpack flags
 *     outside 0..3, getters on a missing name, cookie getters on a pair of
 *     another type. A binding bug therefore kills the test process, as it
 *     would on FreeBSD;
 *   - nvlist_pack(): byte-exact output in host byte order, including the
 *     non-canonical nitems / datasize values libnv carries through from an
 *     unpacked buffer (golden README 5.4);
 *   - nvlist_unpack(): every check and leniency of sheet section 7 / README 5
 *     (unchecked version byte, markers that are not skipped, lists that end
 *     without their markers, byte order taken from the top header and from
 *     each array element's header). One deliberate difference: a duplicate
 *     name directly inside an nvlist-array element is rejected with EEXIST
 *     (libnv built with NDEBUG) instead of tripping libnv's assertion;
 *   - iteration with nvlist_next() cookies, the cnvlist_* cookie getters,
 *     nvlist_get_parent(), nvlist_get_array_next(), nvlist_get_pararr().
 *
 * Descriptors, sockets, take/free/append functions and nvlist_dump are not
 * modelled. One export is the model's own, not libnv's: nvmodel_live_lists()
 * counts the lists in existence, so tests can prove the binding destroys
 * every list it creates, on error paths too. Build with -DNVMODEL_NO_ARRAYS to get a library without the
 * array functions (what FreeBSD 11's libnv.so.0 offered), which the binding
 * must treat as optional.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef NVMODEL_PREFIX
#define NVMODEL_PREFIX FreeBSD_
#endif
#define NVM_CAT2(a, b) a##b
#define NVM_CAT(a, b) NVM_CAT2(a, b)
#define NVM(name) NVM_CAT(NVMODEL_PREFIX, name)
#define NVM_EXPORT __attribute__((visibility("default")))

#define NV_NAME_MAX 2048
#define NV_FLAG_IGNORE_CASE 0x01
#define NV_FLAG_NO_UNIQUE 0x02
#define NV_FLAG_PUBLIC_MASK 0x03
#define NV_FLAG_BIG_ENDIAN 0x80
#define NV_FLAG_IN_ARRAY 0x100
#define NV_FLAG_WIRE_MASK 0x83

#define NV_TYPE_NULL 1
#define NV_TYPE_BOOL 2
#define NV_TYPE_NUMBER 3
#define NV_TYPE_STRING 4
#define NV_TYPE_NVLIST 5
#define NV_TYPE_DESCRIPTOR 6
#define NV_TYPE_BINARY 7
#define NV_TYPE_BOOL_ARRAY 8
#define NV_TYPE_NUMBER_ARRAY 9
#define NV_TYPE_STRING_ARRAY 10
#define NV_TYPE_NVLIST_ARRAY 11
#define NV_TYPE_DESCRIPTOR_ARRAY 12
#define NV_TYPE_NVLIST_ARRAY_NEXT 254
#define NV_TYPE_NVLIST_UP 255

#define LIST_HEADER_SIZE 19
#define PAIR_HEADER_SIZE 19
#define MARKER_SIZE (PAIR_HEADER_SIZE + 1)
#define LIST_MAGIC 0x6c

typedef struct nvlist nvlist_t;
typedef struct nvpair nvpair_t;

struct nvpair {
	int type;
	char *name;
	/*
	 * Header fields libnv does not validate and re-emits unchanged: nitems
	 * of non-array pairs, datasize of nvlist-array pairs. 0 when built.
	 */
	uint64_t wire_nitems;
	uint64_t wire_datasize;
	union {
		bool b;
		uint64_t number;
		char *string;
		nvlist_t *list;
		struct {
			void *data;
			size_t size;
		} binary;
		struct {
			void *items; /* uint8_t[], uint64_t[], char *[], nvlist_t *[] */
			size_t count;
		} array;
	} v;
	nvlist_t *owner;
	nvpair_t *next;
};

struct nvlist {
	int flags; /* public flags | NV_FLAG_IN_ARRAY */
	int error;
	nvpair_t *parent; /* the NVLIST / NVLIST_ARRAY pair holding this list */
	nvlist_t *array_next;
	nvpair_t *head;
	nvpair_t *tail;
};

/* ------------------------------------------------------------------ basics */

static bool
host_is_big_endian(void)
{
	const uint16_t probe = 1;

	return (*(const uint8_t *)&probe == 0);
}

static int
ascii_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char)(cb - 'A' + 'a');
		if (ca != cb || ca == '\0')
			return (ca - cb);
	}
}

/*
 * Like libnv's lookup, a miss sets errno to ENOENT. Duplicate checks on
 * every insert therefore leave ENOENT behind, which is the errno observed
 * after the rejections libnv does not set errno for (golden README 5.10).
 */
static nvpair_t *
find_pair(const nvlist_t *nvl, const char *name, int type)
{
	nvpair_t *nvp;

	for (nvp = nvl->head; nvp != NULL; nvp = nvp->next) {
		if (type != 0 && nvp->type != type)
			continue;
		if (nvl->flags & NV_FLAG_IGNORE_CASE) {
			if (ascii_casecmp(nvp->name, name) == 0)
				return (nvp);
		} else if (strcmp(nvp->name, name) == 0) {
			return (nvp);
		}
	}
	errno = ENOENT;
	return (NULL);
}

static void
record_error(nvlist_t *nvl, int error)
{
	if (nvl->error == 0)
		nvl->error = error;
	errno = error;
}

static long live_lists;

NVM_EXPORT long
nvmodel_live_lists(void)
{
	return (live_lists);
}

static nvlist_t *
list_new(int flags)
{
	nvlist_t *nvl = calloc(1, sizeof(*nvl));

	if (nvl == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	nvl->flags = flags;
	live_lists++;
	return (nvl);
}

static void pair_free(nvpair_t *nvp);

static void
list_free(nvlist_t *nvl)
{
	nvpair_t *nvp, *next;

	if (nvl == NULL)
		return;
	for (nvp = nvl->head; nvp != NULL; nvp = next) {
		next = nvp->next;
		pair_free(nvp);
	}
	free(nvl);
	live_lists--;
}

static void
pair_free(nvpair_t *nvp)
{
	size_t i;

	switch (nvp->type) {
	case NV_TYPE_STRING:
		free(nvp->v.string);
		break;
	case NV_TYPE_NVLIST:
		list_free(nvp->v.list);
		break;
	case NV_TYPE_BINARY:
		free(nvp->v.binary.data);
		break;
	case NV_TYPE_STRING_ARRAY:
		for (i = 0; i < nvp->v.array.count; i++)
			free(((char **)nvp->v.array.items)[i]);
		free(nvp->v.array.items);
		break;
	case NV_TYPE_NVLIST_ARRAY:
		for (i = 0; i < nvp->v.array.count; i++)
			list_free(((nvlist_t **)nvp->v.array.items)[i]);
		free(nvp->v.array.items);
		break;
	case NV_TYPE_BOOL_ARRAY:
	case NV_TYPE_NUMBER_ARRAY:
		free(nvp->v.array.items);
		break;
	default:
		break;
	}
	free(nvp->name);
	free(nvp);
}

static nvpair_t *
pair_new(int type, const char *name)
{
	nvpair_t *nvp = calloc(1, sizeof(*nvp));

	if (nvp == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	nvp->type = type;
	nvp->name = strdup(name);
	if (nvp->name == NULL) {
		free(nvp);
		errno = ENOMEM;
		return (NULL);
	}
	return (nvp);
}

/* Point the children of an nvlist / nvlist-array pair back at the pair. */
static void
adopt_children(nvpair_t *nvp)
{
	size_t i;

	if (nvp->type == NV_TYPE_NVLIST) {
		nvp->v.list->parent = nvp;
	} else if (nvp->type == NV_TYPE_NVLIST_ARRAY) {
		nvlist_t **items = nvp->v.array.items;

		for (i = 0; i < nvp->v.array.count; i++) {
			items[i]->parent = nvp;
			items[i]->array_next =
			    i + 1 < nvp->v.array.count ? items[i + 1] : NULL;
			if (i + 1 < nvp->v.array.count)
				items[i]->flags |= NV_FLAG_IN_ARRAY;
			else
				items[i]->flags &= ~NV_FLAG_IN_ARRAY;
		}
	}
}

/*
 * Append nvp to nvl (duplicate rules of the list apply). On failure the
 * pair and everything it owns is freed and the list's error is recorded.
 */
static bool
insert_pair(nvlist_t *nvl, nvpair_t *nvp)
{
	if (!(nvl->flags & NV_FLAG_NO_UNIQUE) &&
	    find_pair(nvl, nvp->name, 0) != NULL) {
		pair_free(nvp);
		record_error(nvl, EEXIST);
		return (false);
	}
	nvp->owner = nvl;
	if (nvl->tail == NULL)
		nvl->head = nvp;
	else
		nvl->tail->next = nvp;
	nvl->tail = nvp;
	adopt_children(nvp);
	return (true);
}

/* ------------------------------------------------------------ lifecycle */

NVM_EXPORT nvlist_t *
NVM(nvlist_create)(int flags)
{
	if (flags & ~NV_FLAG_PUBLIC_MASK)
		abort();
	return (list_new(flags));
}

NVM_EXPORT void
NVM(nvlist_destroy)(nvlist_t *nvl)
{
	int saved = errno;

	list_free(nvl);
	errno = saved;
}

NVM_EXPORT int
NVM(nvlist_error)(const nvlist_t *nvl)
{
	return (nvl == NULL ? ENOMEM : nvl->error);
}

NVM_EXPORT void
NVM(nvlist_set_error)(nvlist_t *nvl, int error)
{
	if (error == 0)
		abort();
	if (nvl != NULL && nvl->error == 0)
		nvl->error = error;
}

NVM_EXPORT int
NVM(nvlist_flags)(const nvlist_t *nvl)
{
	if (nvl->error != 0)
		abort();
	return (nvl->flags & NV_FLAG_PUBLIC_MASK);
}

NVM_EXPORT bool
NVM(nvlist_empty)(const nvlist_t *nvl)
{
	if (nvl->error != 0)
		abort();
	return (nvl->head == NULL);
}

static nvlist_t *list_clone(const nvlist_t *nvl);

static void *
memdup(const void *src, size_t size)
{
	void *dst = malloc(size == 0 ? 1 : size);

	if (dst != NULL)
		memcpy(dst, src, size);
	return (dst);
}

static nvpair_t *
pair_clone(const nvpair_t *src)
{
	nvpair_t *nvp = pair_new(src->type, src->name);
	size_t i, count;

	if (nvp == NULL)
		return (NULL);
	nvp->wire_nitems = src->wire_nitems;
	nvp->wire_datasize = src->wire_datasize;
	count = src->v.array.count;
	switch (src->type) {
	case NV_TYPE_NULL:
		return (nvp);
	case NV_TYPE_BOOL:
		nvp->v.b = src->v.b;
		return (nvp);
	case NV_TYPE_NUMBER:
		nvp->v.number = src->v.number;
		return (nvp);
	case NV_TYPE_STRING:
		nvp->v.string = strdup(src->v.string);
		if (nvp->v.string != NULL)
			return (nvp);
		break;
	case NV_TYPE_NVLIST:
		nvp->v.list = list_clone(src->v.list);
		if (nvp->v.list != NULL)
			return (nvp);
		break;
	case NV_TYPE_BINARY:
		nvp->v.binary.size = src->v.binary.size;
		nvp->v.binary.data =
		    memdup(src->v.binary.data, src->v.binary.size);
		if (nvp->v.binary.data != NULL)
			return (nvp);
		break;
	case NV_TYPE_BOOL_ARRAY:
	case NV_TYPE_NUMBER_ARRAY:
		nvp->v.array.items = memdup(src->v.array.items,
		    count * (src->type == NV_TYPE_BOOL_ARRAY ? 1 : 8));
		if (nvp->v.array.items == NULL)
			break;
		nvp->v.array.count = count;
		return (nvp);
	case NV_TYPE_STRING_ARRAY:
	case NV_TYPE_NVLIST_ARRAY:
		nvp->v.array.items = calloc(count, sizeof(void *));
		if (nvp->v.array.items == NULL)
			break;
		nvp->v.array.count = count;
		for (i = 0; i < count; i++) {
			void *item;

			if (src->type == NV_TYPE_STRING_ARRAY)
				item = strdup(((char **)src->v.array.items)[i]);
			else
				item = list_clone(
				    ((nvlist_t **)src->v.array.items)[i]);
			if (item == NULL) {
				pair_free(nvp);
				errno = ENOMEM;
				return (NULL);
			}
			((void **)nvp->v.array.items)[i] = item;
		}
		adopt_children(nvp);
		return (nvp);
	default:
		abort();
	}
	pair_free(nvp);
	errno = ENOMEM;
	return (NULL);
}

static nvlist_t *
list_clone(const nvlist_t *nvl)
{
	nvlist_t *copy;
	const nvpair_t *nvp;

	if (nvl->error != 0) {
		errno = nvl->error;
		return (NULL);
	}
	copy = list_new(nvl->flags & NV_FLAG_PUBLIC_MASK);
	if (copy == NULL)
		return (NULL);
	for (nvp = nvl->head; nvp != NULL; nvp = nvp->next) {
		nvpair_t *dup = pair_clone(nvp);

		if (dup == NULL) {
			list_free(copy);
			return (NULL);
		}
		if (!insert_pair(copy, dup)) {
			list_free(copy);
			return (NULL);
		}
	}
	return (copy);
}

NVM_EXPORT nvlist_t *
NVM(nvlist_clone)(const nvlist_t *nvl)
{
	return (list_clone(nvl));
}

/* --------------------------------------------------------------- adding */

/*
 * Common front half of every add: the sticky error and the name rules.
 * Returns false (error recorded) when the add must not happen.
 */
static bool
add_allowed(nvlist_t *nvl, const char *name)
{
	if (nvl->error != 0) {
		errno = nvl->error;
		return (false);
	}
	if (name == NULL) {
		record_error(nvl, EINVAL);
		return (false);
	}
	if (strlen(name) >= NV_NAME_MAX) {
		record_error(nvl, ENAMETOOLONG);
		return (false);
	}
	return (true);
}

static nvpair_t *
add_begin(nvlist_t *nvl, const char *name, int type)
{
	nvpair_t *nvp;

	if (!add_allowed(nvl, name))
		return (NULL);
	nvp = pair_new(type, name);
	if (nvp == NULL)
		record_error(nvl, ENOMEM);
	return (nvp);
}

NVM_EXPORT void
NVM(nvlist_add_null)(nvlist_t *nvl, const char *name)
{
	nvpair_t *nvp = add_begin(nvl, name, NV_TYPE_NULL);

	if (nvp != NULL)
		insert_pair(nvl, nvp);
}

NVM_EXPORT void
NVM(nvlist_add_bool)(nvlist_t *nvl, const char *name, bool value)
{
	nvpair_t *nvp = add_begin(nvl, name, NV_TYPE_BOOL);

	if (nvp != NULL) {
		nvp->v.b = value;
		insert_pair(nvl, nvp);
	}
}

NVM_EXPORT void
NVM(nvlist_add_number)(nvlist_t *nvl, const char *name, uint64_t value)
{
	nvpair_t *nvp = add_begin(nvl, name, NV_TYPE_NUMBER);

	if (nvp != NULL) {
		nvp->v.number = value;
		insert_pair(nvl, nvp);
	}
}

NVM_EXPORT void
NVM(nvlist_add_string)(nvlist_t *nvl, const char *name, const char *value)
{
	nvpair_t *nvp;

	if (value == NULL) {
		if (nvl->error == 0)
			record_error(nvl, EINVAL);
		return;
	}
	nvp = add_begin(nvl, name, NV_TYPE_STRING);
	if (nvp == NULL)
		return;
	nvp->v.string = strdup(value);
	if (nvp->v.string == NULL) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	insert_pair(nvl, nvp);
}

NVM_EXPORT void
NVM(nvlist_add_binary)(nvlist_t *nvl, const char *name, const void *value,
    size_t size)
{
	nvpair_t *nvp;

	if (nvl->error != 0) {
		errno = nvl->error;
		return;
	}
	if (value == NULL || size == 0) {
		record_error(nvl, EINVAL);
		return;
	}
	nvp = add_begin(nvl, name, NV_TYPE_BINARY);
	if (nvp == NULL)
		return;
	nvp->v.binary.data = memdup(value, size);
	nvp->v.binary.size = size;
	if (nvp->v.binary.data == NULL) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	insert_pair(nvl, nvp);
}

NVM_EXPORT void
NVM(nvlist_add_nvlist)(nvlist_t *nvl, const char *name,
    const nvlist_t *value)
{
	nvpair_t *nvp;

	if (nvl->error != 0) {
		errno = nvl->error;
		return;
	}
	if (value == NULL) {
		record_error(nvl, EINVAL);
		return;
	}
	if (value->error != 0) {
		record_error(nvl, value->error);
		return;
	}
	nvp = add_begin(nvl, name, NV_TYPE_NVLIST);
	if (nvp == NULL)
		return;
	nvp->v.list = list_clone(value);
	if (nvp->v.list == NULL) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	insert_pair(nvl, nvp);
}

/*
 * Ownership, as the sheet describes libnv's: a value moved into a list that
 * is already in error is left alone (callers must check nvlist_error()
 * first); otherwise the value is consumed whether or not the move succeeds.
 */
NVM_EXPORT void
NVM(nvlist_move_nvlist)(nvlist_t *nvl, const char *name, nvlist_t *value)
{
	nvpair_t *nvp;

	if (nvl->error != 0) {
		errno = nvl->error;
		return;
	}
	if (value == NULL || value->parent != NULL) {
		record_error(nvl, EINVAL);
		return;
	}
	if (value->error != 0) {
		record_error(nvl, value->error);
		list_free(value);
		return;
	}
	nvp = add_begin(nvl, name, NV_TYPE_NVLIST);
	if (nvp == NULL) {
		list_free(value);
		return;
	}
	nvp->v.list = value;
	insert_pair(nvl, nvp);
}

#ifndef NVMODEL_NO_ARRAYS

static bool
array_allowed(nvlist_t *nvl, const void *value, size_t nitems)
{
	if (nvl->error != 0) {
		errno = nvl->error;
		return (false);
	}
	if (value == NULL || nitems == 0) {
		record_error(nvl, EINVAL);
		return (false);
	}
	return (true);
}

static void
add_flat_array(nvlist_t *nvl, const char *name, int type, const void *value,
    size_t nitems, size_t itemsize)
{
	nvpair_t *nvp;

	if (!array_allowed(nvl, value, nitems))
		return;
	nvp = add_begin(nvl, name, type);
	if (nvp == NULL)
		return;
	nvp->v.array.items = memdup(value, nitems * itemsize);
	if (nvp->v.array.items == NULL) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	nvp->v.array.count = nitems;
	insert_pair(nvl, nvp);
}

NVM_EXPORT void
NVM(nvlist_add_bool_array)(nvlist_t *nvl, const char *name,
    const bool *value, size_t nitems)
{
	/* Copied byte for byte: libnv keeps whatever bytes it is given. */
	add_flat_array(nvl, name, NV_TYPE_BOOL_ARRAY, value, nitems, 1);
}

NVM_EXPORT void
NVM(nvlist_add_number_array)(nvlist_t *nvl, const char *name,
    const uint64_t *value, size_t nitems)
{
	add_flat_array(nvl, name, NV_TYPE_NUMBER_ARRAY, value, nitems, 8);
}

NVM_EXPORT void
NVM(nvlist_add_string_array)(nvlist_t *nvl, const char *name,
    const char *const *value, size_t nitems)
{
	nvpair_t *nvp;
	char **items;
	size_t i;

	if (!array_allowed(nvl, value, nitems))
		return;
	for (i = 0; i < nitems; i++) {
		if (value[i] == NULL) {
			record_error(nvl, EINVAL);
			return;
		}
	}
	nvp = add_begin(nvl, name, NV_TYPE_STRING_ARRAY);
	if (nvp == NULL)
		return;
	items = calloc(nitems, sizeof(char *));
	nvp->v.array.items = items;
	if (items != NULL) {
		nvp->v.array.count = nitems;
		for (i = 0; i < nitems; i++) {
			items[i] = strdup(value[i]);
			if (items[i] == NULL)
				break;
		}
	}
	if (items == NULL || i < nitems) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	insert_pair(nvl, nvp);
}

NVM_EXPORT void
NVM(nvlist_add_nvlist_array)(nvlist_t *nvl, const char *name,
    const nvlist_t *const *value, size_t nitems)
{
	nvpair_t *nvp;
	nvlist_t **items;
	size_t i;

	if (!array_allowed(nvl, value, nitems))
		return;
	for (i = 0; i < nitems; i++) {
		if (value[i] == NULL) {
			record_error(nvl, EINVAL);
			return;
		}
		if (value[i]->error != 0) {
			record_error(nvl, value[i]->error);
			return;
		}
	}
	nvp = add_begin(nvl, name, NV_TYPE_NVLIST_ARRAY);
	if (nvp == NULL)
		return;
	items = calloc(nitems, sizeof(nvlist_t *));
	nvp->v.array.items = items;
	if (items != NULL) {
		nvp->v.array.count = nitems;
		for (i = 0; i < nitems; i++) {
			items[i] = list_clone(value[i]);
			if (items[i] == NULL)
				break;
		}
	}
	if (items == NULL || i < nitems) {
		pair_free(nvp);
		record_error(nvl, ENOMEM);
		return;
	}
	insert_pair(nvl, nvp);
}

#endif /* !NVMODEL_NO_ARRAYS */

/* --------------------------------------------------------- lookup by name */

NVM_EXPORT bool
NVM(nvlist_exists)(const nvlist_t *nvl, const char *name)
{
	return (find_pair(nvl, name, 0) != NULL);
}

NVM_EXPORT bool
NVM(nvlist_exists_type)(const nvlist_t *nvl, const char *name, int type)
{
	return (find_pair(nvl, name, type) != NULL);
}

/* libnv aborts when a getter is asked for a name that is not there. */
static const nvpair_t *
must_find(const nvlist_t *nvl, const char *name, int type)
{
	const nvpair_t *nvp = find_pair(nvl, name, type);

	if (nvp == NULL)
		abort();
	return (nvp);
}

NVM_EXPORT bool
NVM(nvlist_get_bool)(const nvlist_t *nvl, const char *name)
{
	return (must_find(nvl, name, NV_TYPE_BOOL)->v.b);
}

NVM_EXPORT uint64_t
NVM(nvlist_get_number)(const nvlist_t *nvl, const char *name)
{
	return (must_find(nvl, name, NV_TYPE_NUMBER)->v.number);
}

NVM_EXPORT const char *
NVM(nvlist_get_string)(const nvlist_t *nvl, const char *name)
{
	return (must_find(nvl, name, NV_TYPE_STRING)->v.string);
}

NVM_EXPORT const nvlist_t *
NVM(nvlist_get_nvlist)(const nvlist_t *nvl, const char *name)
{
	return (must_find(nvl, name, NV_TYPE_NVLIST)->v.list);
}

NVM_EXPORT const void *
NVM(nvlist_get_binary)(const nvlist_t *nvl, const char *name, size_t *sizep)
{
	const nvpair_t *nvp = must_find(nvl, name, NV_TYPE_BINARY);

	if (sizep != NULL)
		*sizep = nvp->v.binary.size;
	return (nvp->v.binary.data);
}

/* ------------------------------------------------------ cookie iteration */

NVM_EXPORT const char *
NVM(nvlist_next)(const nvlist_t *nvl, int *typep, void **cookiep)
{
	nvpair_t *nvp;

	if (nvl == NULL || nvl->error != 0)
		return (NULL);
	nvp = *cookiep == NULL ? nvl->head : ((nvpair_t *)*cookiep)->next;
	if (nvp == NULL)
		return (NULL);
	if (typep != NULL)
		*typep = nvp->type;
	*cookiep = nvp;
	return (nvp->name);
}

NVM_EXPORT const nvlist_t *
NVM(nvlist_get_parent)(const nvlist_t *nvl, void **cookiep)
{
	if (nvl->parent == NULL)
		return (NULL);
	if (cookiep != NULL)
		*cookiep = nvl->parent;
	return (nvl->parent->owner);
}

NVM_EXPORT const nvlist_t *
NVM(nvlist_get_array_next)(const nvlist_t *nvl)
{
	return (nvl->array_next);
}

NVM_EXPORT bool
NVM(nvlist_in_array)(const nvlist_t *nvl)
{
	return ((nvl->flags & NV_FLAG_IN_ARRAY) != 0);
}

NVM_EXPORT const nvlist_t *
NVM(nvlist_get_pararr)(const nvlist_t *nvl, void **cookiep)
{
	if (nvl->array_next != NULL) {
		if (cookiep != NULL)
			*cookiep = NULL;
		return (nvl->array_next);
	}
	return (NVM(nvlist_get_parent)(nvl, cookiep));
}

/* libnv asserts that a cookie getter is used on a pair of its own type. */
static const nvpair_t *
cookie_pair(const void *cookie, int type)
{
	const nvpair_t *nvp = cookie;

	if (nvp == NULL || nvp->type != type)
		abort();
	return (nvp);
}

NVM_EXPORT const char *
NVM(cnvlist_name)(const void *cookie)
{
	return (((const nvpair_t *)cookie)->name);
}

NVM_EXPORT int
NVM(cnvlist_type)(const void *cookie)
{
	return (((const nvpair_t *)cookie)->type);
}

NVM_EXPORT bool
NVM(cnvlist_get_bool)(const void *cookie)
{
	return (cookie_pair(cookie, NV_TYPE_BOOL)->v.b);
}

NVM_EXPORT uint64_t
NVM(cnvlist_get_number)(const void *cookie)
{
	return (cookie_pair(cookie, NV_TYPE_NUMBER)->v.number);
}

NVM_EXPORT const char *
NVM(cnvlist_get_string)(const void *cookie)
{
	return (cookie_pair(cookie, NV_TYPE_STRING)->v.string);
}

NVM_EXPORT const nvlist_t *
NVM(cnvlist_get_nvlist)(const void *cookie)
{
	return (cookie_pair(cookie, NV_TYPE_NVLIST)->v.list);
}

NVM_EXPORT const void *
NVM(cnvlist_get_binary)(const void *cookie, size_t *sizep)
{
	const nvpair_t *nvp = cookie_pair(cookie, NV_TYPE_BINARY);

	if (sizep != NULL)
		*sizep = nvp->v.binary.size;
	return (nvp->v.binary.data);
}

#ifndef NVMODEL_NO_ARRAYS

static const void *
cookie_array(const void *cookie, int type, size_t *nitemsp)
{
	const nvpair_t *nvp = cookie_pair(cookie, type);

	if (nitemsp != NULL)
		*nitemsp = nvp->v.array.count;
	return (nvp->v.array.items);
}

NVM_EXPORT const bool *
NVM(cnvlist_get_bool_array)(const void *cookie, size_t *nitemsp)
{
	return (cookie_array(cookie, NV_TYPE_BOOL_ARRAY, nitemsp));
}

NVM_EXPORT const uint64_t *
NVM(cnvlist_get_number_array)(const void *cookie, size_t *nitemsp)
{
	return (cookie_array(cookie, NV_TYPE_NUMBER_ARRAY, nitemsp));
}

NVM_EXPORT const char *const *
NVM(cnvlist_get_string_array)(const void *cookie, size_t *nitemsp)
{
	return (cookie_array(cookie, NV_TYPE_STRING_ARRAY, nitemsp));
}

NVM_EXPORT const nvlist_t *const *
NVM(cnvlist_get_nvlist_array)(const void *cookie, size_t *nitemsp)
{
	return (cookie_array(cookie, NV_TYPE_NVLIST_ARRAY, nitemsp));
}

#endif /* !NVMODEL_NO_ARRAYS */

/* ---------------------------------------------------------------- packing */

static size_t list_packed_size(const nvlist_t *nvl);

/* Bytes this pair occupies on the wire (sheet section 4, "Pair size"). */
static size_t
pair_packed_size(const nvpair_t *nvp)
{
	size_t size = PAIR_HEADER_SIZE + strlen(nvp->name) + 1;
	size_t i, count = nvp->v.array.count;

	switch (nvp->type) {
	case NV_TYPE_NULL:
		return (size);
	case NV_TYPE_BOOL:
		return (size + 1);
	case NV_TYPE_NUMBER:
		return (size + 8);
	case NV_TYPE_STRING:
		return (size + strlen(nvp->v.string) + 1);
	case NV_TYPE_NVLIST:
		return (size + list_packed_size(nvp->v.list) + MARKER_SIZE);
	case NV_TYPE_BINARY:
		return (size + nvp->v.binary.size);
	case NV_TYPE_BOOL_ARRAY:
		return (size + count);
	case NV_TYPE_NUMBER_ARRAY:
		return (size + 8 * count);
	case NV_TYPE_STRING_ARRAY:
		for (i = 0; i < count; i++)
			size += strlen(((char **)nvp->v.array.items)[i]) + 1;
		return (size);
	case NV_TYPE_NVLIST_ARRAY:
		for (i = 0; i < count; i++)
			size += list_packed_size(
			    ((nvlist_t **)nvp->v.array.items)[i]) + MARKER_SIZE;
		return (size);
	default:
		abort();
	}
}

/* Header plus pairs, without the marker that closes a nested list. */
static size_t
list_packed_size(const nvlist_t *nvl)
{
	size_t size = LIST_HEADER_SIZE;
	const nvpair_t *nvp;

	for (nvp = nvl->head; nvp != NULL; nvp = nvp->next)
		size += pair_packed_size(nvp);
	return (size);
}

NVM_EXPORT size_t
NVM(nvlist_size)(const nvlist_t *nvl)
{
	return (list_packed_size(nvl));
}

struct writer {
	uint8_t *buf;
	size_t off;
	size_t total;
};

static void
put_u8(struct writer *w, uint8_t value)
{
	w->buf[w->off++] = value;
}

/* Multi-byte fields go out in host byte order, as libnv writes them. */
static void
put_u16(struct writer *w, uint16_t value)
{
	memcpy(w->buf + w->off, &value, sizeof(value));
	w->off += sizeof(value);
}

static void
put_u64(struct writer *w, uint64_t value)
{
	memcpy(w->buf + w->off, &value, sizeof(value));
	w->off += sizeof(value);
}

static void
put_bytes(struct writer *w, const void *src, size_t size)
{
	memcpy(w->buf + w->off, src, size);
	w->off += size;
}

static void
put_list_header(struct writer *w, const nvlist_t *nvl)
{
	uint8_t flags = (uint8_t)(nvl->flags & 0xff);

	if (host_is_big_endian())
		flags |= NV_FLAG_BIG_ENDIAN;
	put_u8(w, LIST_MAGIC);
	put_u8(w, 0);
	put_u8(w, flags);
	put_u64(w, 0);
	/* Everything after this header to the end of the whole buffer. */
	put_u64(w, (uint64_t)(w->total - (w->off + 8)));
}

static void
put_pair_header(struct writer *w, int type, const char *name,
    uint64_t datasize, uint64_t nitems)
{
	size_t namesize = strlen(name) + 1;

	put_u8(w, (uint8_t)type);
	put_u16(w, (uint16_t)namesize);
	put_u64(w, datasize);
	put_u64(w, nitems);
	put_bytes(w, name, namesize);
}

static void put_list(struct writer *w, const nvlist_t *nvl);

static void
put_pair(struct writer *w, const nvpair_t *nvp)
{
	size_t i, count = nvp->v.array.count;
	uint64_t datasize;

	switch (nvp->type) {
	case NV_TYPE_NULL:
		put_pair_header(w, nvp->type, nvp->name, 0, nvp->wire_nitems);
		break;
	case NV_TYPE_BOOL:
		put_pair_header(w, nvp->type, nvp->name, 1, nvp->wire_nitems);
		put_u8(w, nvp->v.b ? 1 : 0);
		break;
	case NV_TYPE_NUMBER:
		put_pair_header(w, nvp->type, nvp->name, 8, nvp->wire_nitems);
		put_u64(w, nvp->v.number);
		break;
	case NV_TYPE_STRING:
		datasize = strlen(nvp->v.string) + 1;
		put_pair_header(w, nvp->type, nvp->name, datasize,
		    nvp->wire_nitems);
		put_bytes(w, nvp->v.string, (size_t)datasize);
		break;
	case NV_TYPE_NVLIST:
		put_pair_header(w, nvp->type, nvp->name,
		    list_packed_size(nvp->v.list), nvp->wire_nitems);
		put_list(w, nvp->v.list);
		put_pair_header(w, NV_TYPE_NVLIST_UP, "", 0, 0);
		break;
	case NV_TYPE_BINARY:
		put_pair_header(w, nvp->type, nvp->name, nvp->v.binary.size,
		    nvp->wire_nitems);
		put_bytes(w, nvp->v.binary.data, nvp->v.binary.size);
		break;
	case NV_TYPE_BOOL_ARRAY:
		put_pair_header(w, nvp->type, nvp->name, count, count);
		put_bytes(w, nvp->v.array.items, count);
		break;
	case NV_TYPE_NUMBER_ARRAY:
		put_pair_header(w, nvp->type, nvp->name, 8 * count, count);
		for (i = 0; i < count; i++)
			put_u64(w, ((uint64_t *)nvp->v.array.items)[i]);
		break;
	case NV_TYPE_STRING_ARRAY:
		datasize = 0;
		for (i = 0; i < count; i++)
			datasize += strlen(((char **)nvp->v.array.items)[i]) + 1;
		put_pair_header(w, nvp->type, nvp->name, datasize, count);
		for (i = 0; i < count; i++) {
			const char *s = ((char **)nvp->v.array.items)[i];

			put_bytes(w, s, strlen(s) + 1);
		}
		break;
	case NV_TYPE_NVLIST_ARRAY:
		put_pair_header(w, nvp->type, nvp->name, nvp->wire_datasize,
		    count);
		for (i = 0; i < count; i++) {
			put_list(w, ((nvlist_t **)nvp->v.array.items)[i]);
			put_pair_header(w, NV_TYPE_NVLIST_ARRAY_NEXT, "", 0, 0);
		}
		break;
	default:
		abort();
	}
}

static void
put_list(struct writer *w, const nvlist_t *nvl)
{
	const nvpair_t *nvp;

	put_list_header(w, nvl);
	for (nvp = nvl->head; nvp != NULL; nvp = nvp->next)
		put_pair(w, nvp);
}

NVM_EXPORT void *
NVM(nvlist_pack)(const nvlist_t *nvl, size_t *sizep)
{
	struct writer w;

	if (nvl->error != 0) {
		errno = nvl->error;
		return (NULL);
	}
	w.total = list_packed_size(nvl);
	w.off = 0;
	w.buf = malloc(w.total);
	if (w.buf == NULL) {
		errno = ENOMEM;
		return (NULL);
	}
	put_list(&w, nvl);
	if (w.off != w.total)
		abort();
	if (sizep != NULL)
		*sizep = w.total;
	return (w.buf);
}

/* -------------------------------------------------------------- unpacking */

struct reader {
	const uint8_t *p;
	size_t left;
	bool swap; /* pair fields are in the other byte order */
};

static uint16_t
get_u16(const uint8_t *p, bool swap)
{
	uint16_t value;

	memcpy(&value, p, sizeof(value));
	return (swap ? __builtin_bswap16(value) : value);
}

static uint64_t
get_u64(const uint8_t *p, bool swap)
{
	uint64_t value;

	memcpy(&value, p, sizeof(value));
	return (swap ? __builtin_bswap64(value) : value);
}

/*
 * Read a list header into nvl. Its own fields are decoded in the order its
 * BE flag states; with take_order (top level, array elements) that order
 * also becomes the order of the pairs that follow.
 */
static bool
read_list_header(struct reader *r, nvlist_t *nvl, bool take_order)
{
	uint8_t flags;
	bool swap;

	if (r->left < LIST_HEADER_SIZE)
		goto invalid;
	flags = r->p[2];
	if (r->p[0] != LIST_MAGIC || (flags & ~NV_FLAG_WIRE_MASK) != 0)
		goto invalid;
	swap = ((flags & NV_FLAG_BIG_ENDIAN) != 0) != host_is_big_endian();
	if (get_u64(r->p + 3, swap) != 0) /* no descriptors supplied */
		goto invalid;
	if (get_u64(r->p + 11, swap) != r->left - LIST_HEADER_SIZE)
		goto invalid;
	nvl->flags = (nvl->flags & NV_FLAG_IN_ARRAY) |
	    (flags & NV_FLAG_PUBLIC_MASK);
	if (take_order)
		r->swap = swap;
	r->p += LIST_HEADER_SIZE;
	r->left -= LIST_HEADER_SIZE;
	return (true);
invalid:
	errno = EINVAL;
	return (false);
}

struct pair_header {
	int type;
	const char *name;
	uint64_t datasize;
	uint64_t nitems;
};

static bool
read_pair_header(struct reader *r, struct pair_header *h)
{
	uint16_t namesize;
	int type;

	if (r->left < PAIR_HEADER_SIZE)
		goto invalid;
	type = r->p[0];
	if (type < NV_TYPE_NULL || (type > NV_TYPE_DESCRIPTOR_ARRAY &&
	    type != NV_TYPE_NVLIST_ARRAY_NEXT && type != NV_TYPE_NVLIST_UP))
		goto invalid;
	namesize = get_u16(r->p + 1, r->swap);
	h->type = type;
	h->datasize = get_u64(r->p + 3, r->swap);
	h->nitems = get_u64(r->p + 11, r->swap);
	if (namesize == 0 || namesize > NV_NAME_MAX)
		goto invalid;
	r->p += PAIR_HEADER_SIZE;
	r->left -= PAIR_HEADER_SIZE;
	if (r->left < namesize)
		goto invalid;
	if (memchr(r->p, '\0', namesize) != r->p + namesize - 1)
		goto invalid;
	h->name = (const char *)r->p;
	r->p += namesize;
	r->left -= namesize;
	if (h->datasize > r->left)
		goto invalid;
	return (true);
invalid:
	errno = EINVAL;
	return (false);
}

/* True when data holds exactly count NUL-terminated strings. */
static bool
string_array_ok(const uint8_t *data, uint64_t datasize, uint64_t count)
{
	uint64_t pos = 0, i;

	for (i = 0; i < count; i++) {
		const uint8_t *nul;

		if (pos >= datasize)
			return (false);
		nul = memchr(data + pos, '\0', (size_t)(datasize - pos));
		if (nul == NULL)
			return (false);
		pos = (uint64_t)(nul - data) + 1;
	}
	return (pos == datasize);
}

/*
 * Decode the value of a scalar or flat-array pair (all but nvlist, nvlist
 * array and the markers) into nvp and consume its bytes.
 */
static bool
read_value(struct reader *r, const struct pair_header *h, nvpair_t *nvp)
{
	uint64_t ds = h->datasize, n = h->nitems, i;
	const uint8_t *data = r->p;

	switch (h->type) {
	case NV_TYPE_NULL:
		if (ds != 0)
			goto invalid;
		nvp->wire_nitems = n;
		return (true);
	case NV_TYPE_BOOL:
		if (ds != 1 || data[0] > 1)
			goto invalid;
		nvp->v.b = data[0] != 0;
		nvp->wire_nitems = n;
		break;
	case NV_TYPE_NUMBER:
		if (ds != 8)
			goto invalid;
		nvp->v.number = get_u64(data, r->swap);
		nvp->wire_nitems = n;
		break;
	case NV_TYPE_STRING:
		if (ds == 0 || memchr(data, '\0', (size_t)ds) != data + ds - 1)
			goto invalid;
		nvp->v.string = strdup((const char *)data);
		if (nvp->v.string == NULL)
			goto nomem;
		nvp->wire_nitems = n;
		break;
	case NV_TYPE_BINARY:
		if (ds == 0)
			goto invalid;
		nvp->v.binary.data = memdup(data, (size_t)ds);
		if (nvp->v.binary.data == NULL)
			goto nomem;
		nvp->v.binary.size = (size_t)ds;
		nvp->wire_nitems = n;
		break;
	case NV_TYPE_BOOL_ARRAY:
		/* Element bytes are deliberately not range-checked. */
		if (n == 0 || ds != n)
			goto invalid;
		nvp->v.array.items = memdup(data, (size_t)ds);
		if (nvp->v.array.items == NULL)
			goto nomem;
		nvp->v.array.count = (size_t)n;
		break;
	case NV_TYPE_NUMBER_ARRAY:
		if (n == 0 || n > ds / 8 || ds != 8 * n)
			goto invalid;
		nvp->v.array.items = malloc((size_t)ds);
		if (nvp->v.array.items == NULL)
			goto nomem;
		for (i = 0; i < n; i++)
			((uint64_t *)nvp->v.array.items)[i] =
			    get_u64(data + 8 * i, r->swap);
		nvp->v.array.count = (size_t)n;
		break;
	case NV_TYPE_STRING_ARRAY:
		if (n == 0 || ds == 0 || !string_array_ok(data, ds, n))
			goto invalid;
		nvp->v.array.items = calloc((size_t)n, sizeof(char *));
		if (nvp->v.array.items == NULL)
			goto nomem;
		nvp->v.array.count = (size_t)n;
		for (i = 0; i < n; i++) {
			char *s = strdup((const char *)data);

			if (s == NULL)
				goto nomem;
			((char **)nvp->v.array.items)[i] = s;
			data += strlen(s) + 1;
		}
		break;
	default:
		/* Descriptors: nvlist_unpack supplies no descriptors. */
		goto invalid;
	}
	r->p += ds;
	r->left -= (size_t)ds;
	return (true);
invalid:
	errno = EINVAL;
	return (false);
nomem:
	errno = ENOMEM;
	return (false);
}

NVM_EXPORT nvlist_t *
NVM(nvlist_unpack)(const void *buf, size_t size, int flags)
{
	struct reader r = { buf, size, false };
	nvlist_t *top, *cur;
	struct pair_header h;
	nvpair_t *nvp;
	size_t i;

	if (flags & ~NV_FLAG_PUBLIC_MASK)
		abort();
	top = cur = list_new(0);
	if (top == NULL)
		return (NULL);
	if (!read_list_header(&r, top, true))
		goto fail;
	if ((top->flags & NV_FLAG_PUBLIC_MASK) != flags) {
		errno = EILSEQ;
		goto fail;
	}
	while (r.left > 0) {
		if (!read_pair_header(&r, &h))
			goto fail;
		switch (h.type) {
		case NV_TYPE_NVLIST_UP:
			/* The marker's datasize bytes are not skipped. */
			if (cur->parent == NULL)
				goto fail;
			cur = cur->parent->owner;
			continue;
		case NV_TYPE_NVLIST_ARRAY_NEXT:
			if (cur->array_next != NULL) {
				cur = cur->array_next;
				if (!read_list_header(&r, cur, true))
					goto fail;
				continue;
			}
			if (cur->parent == NULL)
				goto fail;
			cur = cur->parent->owner;
			continue;
		default:
			break;
		}
		nvp = pair_new(h.type, h.name);
		if (nvp == NULL)
			goto fail;
		if (h.type == NV_TYPE_NVLIST) {
			nvlist_t *child;

			if (h.datasize == 0) {
				pair_free(nvp);
				errno = EINVAL;
				goto fail;
			}
			nvp->wire_nitems = h.nitems;
			child = list_new(0);
			if (child == NULL) {
				pair_free(nvp);
				goto fail;
			}
			nvp->v.list = child;
			/* The child's own BE bit decodes only its header. */
			if (!read_list_header(&r, child, false)) {
				pair_free(nvp);
				goto fail;
			}
			if (!insert_pair(cur, nvp))
				goto fail;
			cur = child;
			continue;
		}
		if (h.type == NV_TYPE_NVLIST_ARRAY) {
			nvlist_t **items;

			if (h.nitems == 0 ||
			    h.nitems > r.left / LIST_HEADER_SIZE) {
				pair_free(nvp);
				errno = EINVAL;
				goto fail;
			}
			nvp->wire_datasize = h.datasize;
			items = calloc((size_t)h.nitems, sizeof(nvlist_t *));
			nvp->v.array.items = items;
			if (items == NULL) {
				pair_free(nvp);
				errno = ENOMEM;
				goto fail;
			}
			nvp->v.array.count = (size_t)h.nitems;
			for (i = 0; i < h.nitems; i++) {
				items[i] = list_new(0);
				if (items[i] == NULL) {
					/* pair_free skips the NULL tail. */
					nvp->v.array.count = i;
					pair_free(nvp);
					goto fail;
				}
			}
			if (!insert_pair(cur, nvp))
				goto fail;
			cur = items[0];
			if (!read_list_header(&r, cur, true))
				goto fail;
			continue;
		}
		if (!read_value(&r, &h, nvp)) {
			pair_free(nvp);
			goto fail;
		}
		if (!insert_pair(cur, nvp))
			goto fail;
	}
	/*
	 * Any nvlist-array element never reached is left empty; a buffer may
	 * end inside a nested list (the closing markers are optional).
	 */
	return (top);
fail:
	{
		int saved = errno;

		list_free(top);
		errno = saved;
	}
	return (NULL);
}
