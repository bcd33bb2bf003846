/* wire.c - encoding and decoding of every sync message (docs/protocol.md).
 *
 * Decoding happens in three steps, and nothing is trusted before it has
 * passed the step before:
 *
 *  1. scan(): a walk over the raw bytes that builds nothing. It refuses a
 *     body that is not exactly one complete msgpack value, that nests deeper
 *     than the message's shape, or that holds more values than the largest
 *     legal message of its type. msgpack-c allocates an array of N objects
 *     as soon as it reads a header that announces N, so without this walk a
 *     five-byte body could ask it for a hundred gigabytes.
 *  2. msgpack_unpack_next() builds the object tree in a zone; the offset it
 *     stops at must be the end of the body.
 *  3. The message's decoder checks every key, type, size, count and string
 *     rule and copies what it keeps into the message struct.
 *
 * Memory of a decoded message. Arrays (operations, their supersedes lists,
 * envelopes, batches, ...) live in one block, w->alloc, sized by a first
 * pass over the tree and carved in a second. Fixed-size bin values and
 * strings are copied into the structs (strings NUL-terminated). The only
 * pointers left are to variable-length bins - an operation's `value` and a
 * batch's `hashes` - and they point into `body` (msgpack_unpack_next
 * references str and bin data in its input rather than copying it). So once
 * a decode succeeds nothing points into the msgpack zone any more and it is
 * released at once; `body` must stay alive until veld__wire_free(w).
 *
 * A failed decode releases everything it made, zeroes *w and the message
 * struct, and returns VELD_EPROTO (or VELD_ENOMEM) with a message that names
 * the key and the rule it broke, never a value from the body.
 *
 * Encoders validate a message against the same rules first (VELD_EINVAL),
 * so a peer never receives what we would refuse ourselves, then append it
 * to `out`; if appending fails half-way the buffer is cut back to where it
 * was. */
#include "wire.h"
#include "error.h"
#include "policy.h"
#include "veld.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SIG_BYTES 64
#define PK_BYTES 32
#define HASH_BYTES 32
/* The protocol's limit on a sealed value: 64 KiB plus the 40 bytes of nonce
 * and tag (docs/protocol.md section 1). */
/* The largest sealed value: the largest plaintext, padded (always at least
 * one byte) to a whole VELD_PAD_BLOCK, plus nonce and tag. */
#define MAX_VALUE_BYTES ((VELD_VALUE_MAX / VELD_PAD_BLOCK + 1) * VELD_PAD_BLOCK + VELD_SEAL_OVERHEAD)
/* A batch is one push, so it never spans more operations than a push holds. */
#define MAX_BATCH_OPS VELD_WIRE_MAX_OPS
/* The protocol does not bound the team keys in a pull; a device holds one
 * per team key version, and this leaves room for many rotations. */
#define MAX_TEAM_KEYS 1000
/* The widest map of any message (pull: 9 keys). */
#define MAX_MAP_KEYS 16
#define TO_MAX (VELD_TEAM_MAX + 5) /* "team:" + team */
#define ROLE_MAX 15
#define ERROR_MAX 31
#define MESSAGE_MAX 255
#define LABEL_MAX 64

/* Values (msgpack objects, map keys included) in the largest legal message
 * of each type; scan() refuses bodies holding more, which bounds the zone
 * msgpack-c allocates to about 24 bytes times this number. */
#define OP_VALUES (1 + 12 + VELD_OP_MAX_SUPERSEDES * 3)
#define ENV_VALUES (1 + 2 * 5)
#define FLAT_VALUES (1 + 2 * MAX_MAP_KEYS)
#define PUSH_VALUES (1 + 2 * 4 + VELD_WIRE_MAX_OPS * OP_VALUES + VELD_WIRE_MAX_ENVS * ENV_VALUES)
#define PULL_VALUES                                                                        \
	(1 + 2 * 11 + VELD_WIRE_MAX_PAGE * (2 + OP_VALUES) + VELD_WIRE_MAX_PAGE * (1 + 2 * 5) + \
	 VELD_WIRE_MAX_PAGE * 3 + VELD_WIRE_MAX_ENVS * (2 + ENV_VALUES) +                        \
	 MAX_TEAM_KEYS * (1 + 2 * 4) + VELD_WIRE_MAX_ERASED * 5 + POLICY_VALUES)
#define POLICY_VALUES (2 + 2 * 5 + VELD_POLICY_NFIELDS)
#define AUDIT_PUSH_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_AUDIT * 4)
#define AUDIT_PULL_VALUES (1 + 2 * 5 + VELD_WIRE_MAX_PAGE * 6 + VELD_WIRE_MAX_PAGE * 3)
#define TEAM_KEYS_VALUES (1 + 2 * 5 + VELD_WIRE_MAX_DEVICES * (1 + 2 * 2))
#define DEVICES_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_DEVICES * (1 + 2 * 8))
/* Nesting of each message: the body's map is depth 1. */
#define PUSH_DEPTH 5 /* map, ops, op, supersedes, reference */
#define PULL_DEPTH 6 /* map, ops, [cursor, op], op, supersedes, reference */
#define LIST_DEPTH 3 /* map, array, map (or entry array) */
#define FLAT_DEPTH 1
#define POLICY_DEPTH 2 /* map, fields */

static const char *const kinds[] = {"client", "visit", "note", "goal", "signal"};
static const char *const roles[] = {"worker", "office"};

/* ---- string rules, shared by decoders (VELD_EPROTO) and encoders (VELD_EINVAL) */

enum str_rule { S_TEXT, S_TEAM, S_TEAM_OR_STAR, S_KIND, S_ROLE, S_TO };

static int team_valid(const char *s, size_t n)
{
	if (n < 1 || n > VELD_TEAM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

static int one_of(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0)
			return 1;
	return 0;
}

/* Check n bytes at s (not NUL-terminated) against a rule. */
static int check_str(int code, const char *ctx, const char *key, const char *s, size_t n,
                     size_t max, enum str_rule rule)
{
	if (n > max)
		return veld__err(code, "%s: '%s' is longer than %zu bytes", ctx, key, max);
	if (n && memchr(s, 0, n))
		return veld__err(code, "%s: '%s' holds a NUL byte", ctx, key);
	if (!veld__utf8_valid((const uint8_t *)s, n))
		return veld__err(code, "%s: '%s' is not valid UTF-8", ctx, key);
	switch (rule) {
	case S_TEXT:
		return VELD_OK;
	case S_TEAM_OR_STAR:
		if (n == 1 && s[0] == '*')
			return VELD_OK;
		if (!team_valid(s, n))
			return veld__err(code, "%s: '%s' must be * or 1 to 64 of [A-Za-z0-9._@-]", ctx,
			                 key);
		return VELD_OK;
	case S_TEAM:
		if (!team_valid(s, n))
			return veld__err(code, "%s: '%s' must be 1 to 64 of [A-Za-z0-9._@-]", ctx, key);
		return VELD_OK;
	case S_KIND:
		if (!one_of(s, n, kinds, sizeof kinds / sizeof *kinds))
			return veld__err(code, "%s: '%s' must be client, visit, note, goal or signal",
			                 ctx, key);
		return VELD_OK;
	case S_ROLE:
		if (!one_of(s, n, roles, sizeof roles / sizeof *roles))
			return veld__err(code, "%s: '%s' must be worker or office", ctx, key);
		return VELD_OK;
	case S_TO:
		if ((n == 6 && memcmp(s, "office", 6) == 0) ||
		    (n > 5 && memcmp(s, "team:", 5) == 0 && team_valid(s + 5, n - 5)))
			return VELD_OK;
		return veld__err(code, "%s: '%s' must be office or team:<team>", ctx, key);
	}
	return veld__err(code, "%s: '%s' has an unknown rule", ctx, key);
}

/* ---- step 1: scan the raw bytes ----------------------------------------- */

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Read one value's header at p[*off]: advance *off past the header and any
 * payload; set *container (0 scalar, 1 array, 2 map) and *children, the
 * number of values it contains (array entries, or twice the map entries).
 * -1 if the bytes end early or the type byte is never used. */
static int scan_one(const uint8_t *p, size_t len, size_t *off, int *container, uint64_t *children)
{
	size_t o = *off, lenbytes = 0, fixed = 0;
	uint64_t count = 0, payload = 0;
	int is_map = 0, is_array = 0;
	uint8_t b;

	if (o >= len)
		return -1;
	b = p[o++];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
		/* fixint, nil, bool */
	} else if (b <= 0x8f) {
		is_map = 1, count = b & 0x0fu;
	} else if (b <= 0x9f) {
		is_array = 1, count = b & 0x0fu;
	} else if (b <= 0xbf) {
		payload = b & 0x1fu;
	} else {
		switch (b) {
		case 0xc4: case 0xd9: lenbytes = 1; break;            /* bin8, str8 */
		case 0xc5: case 0xda: lenbytes = 2; break;            /* bin16, str16 */
		case 0xc6: case 0xdb: lenbytes = 4; break;            /* bin32, str32 */
		case 0xc7: lenbytes = 1, fixed = 1; break;            /* ext8 */
		case 0xc8: lenbytes = 2, fixed = 1; break;            /* ext16 */
		case 0xc9: lenbytes = 4, fixed = 1; break;            /* ext32 */
		case 0xca: fixed = 4; break;                          /* float32 */
		case 0xcb: fixed = 8; break;                          /* float64 */
		case 0xcc: case 0xd0: fixed = 1; break;               /* (u)int8 */
		case 0xcd: case 0xd1: fixed = 2; break;               /* (u)int16 */
		case 0xce: case 0xd2: fixed = 4; break;               /* (u)int32 */
		case 0xcf: case 0xd3: fixed = 8; break;               /* (u)int64 */
		case 0xd4: fixed = 2; break;                          /* fixext1 */
		case 0xd5: fixed = 3; break;                          /* fixext2 */
		case 0xd6: fixed = 5; break;                          /* fixext4 */
		case 0xd7: fixed = 9; break;                          /* fixext8 */
		case 0xd8: fixed = 17; break;                         /* fixext16 */
		case 0xdc: is_array = 1, lenbytes = 2; break;         /* array16 */
		case 0xdd: is_array = 1, lenbytes = 4; break;         /* array32 */
		case 0xde: is_map = 1, lenbytes = 2; break;           /* map16 */
		case 0xdf: is_map = 1, lenbytes = 4; break;           /* map32 */
		default: return -1;                                   /* 0xc1 */
		}
		if (len - o < lenbytes)
			return -1;
		if (is_map || is_array)
			count = be(p + o, lenbytes);
		else
			payload = be(p + o, lenbytes);
		o += lenbytes;
	}
	*container = is_map ? 2 : is_array ? 1 : 0;
	*children = 0;
	if (*container) {
		*children = is_map ? 2 * count : count;
		/* every value takes at least one byte */
		if (*children > len - o)
			return -1;
	} else {
		payload += fixed;
		if (payload > len - o)
			return -1;
		o += (size_t)payload;
	}
	*off = o;
	return 0;
}

static int scan(const uint8_t *p, size_t len, const char *ctx, int max_depth, size_t max_values)
{
	uint64_t left[PULL_DEPTH + 1], children;
	size_t off = 0, values = 0;
	int top = 0, container;

	left[0] = 1; /* the body is one value */
	while (top >= 0) {
		if (left[top] == 0) {
			top--;
			continue;
		}
		left[top]--;
		if (scan_one(p, len, &off, &container, &children) != 0)
			return veld__err(VELD_EPROTO, "%s: the body is not one complete msgpack value",
			                 ctx);
		if (++values > max_values)
			return veld__err(VELD_EPROTO, "%s: the body holds more values than the message allows",
			                 ctx);
		if (!container)
			continue;
		/* an empty container counts for depth too */
		if (top + 1 > max_depth)
			return veld__err(VELD_EPROTO, "%s: nesting is deeper than %d", ctx, max_depth);
		if (container == 2 && children > 2 * MAX_MAP_KEYS)
			return veld__err(VELD_EPROTO, "%s: a map has more than %d keys", ctx,
			                 MAX_MAP_KEYS);
		left[++top] = children;
	}
	if (off != len)
		return veld__err(VELD_EPROTO, "%s: trailing bytes after the map", ctx);
	return VELD_OK;
}

/* ---- steps 2 and 3: the tree, and typed reads from it ------------------- */

void veld__wire_free(struct veld__wire *w)
{
	if (!w)
		return;
	msgpack_unpacked_destroy(&w->u);
	free(w->alloc);
	memset(w, 0, sizeof *w);
	msgpack_unpacked_init(&w->u);
}

static int bad(const char *ctx, const char *key, const char *rule)
{
	return veld__err(VELD_EPROTO, "%s: '%s' %s", ctx, key, rule);
}

/* Index a map's values by key: val[i] gets the value of keys[i], or NULL.
 * Refuses non-string, unknown and repeated keys, and missing keys unless
 * their bit is set in `optional`. */
static int map_index(const msgpack_object *o, const char *ctx, const char *const *keys,
                     size_t nkeys, uint32_t optional, const msgpack_object **val)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return veld__err(VELD_EPROTO, "%s: must be a map", ctx);
	for (size_t i = 0; i < nkeys; i++)
		val[i] = NULL;
	for (uint32_t e = 0; e < o->via.map.size; e++) {
		const msgpack_object *k = &o->via.map.ptr[e].key;
		size_t i;
		if (k->type != MSGPACK_OBJECT_STR)
			return veld__err(VELD_EPROTO, "%s: a key is not a string", ctx);
		for (i = 0; i < nkeys; i++)
			if (strlen(keys[i]) == k->via.str.size &&
			    memcmp(keys[i], k->via.str.ptr, k->via.str.size) == 0)
				break;
		if (i == nkeys)
			return veld__err(VELD_EPROTO, "%s: unknown key", ctx);
		if (val[i])
			return veld__err(VELD_EPROTO, "%s: '%s' appears twice", ctx, keys[i]);
		val[i] = &o->via.map.ptr[e].val;
	}
	for (size_t i = 0; i < nkeys; i++)
		if (!val[i] && !(optional & (1u << i)))
			return veld__err(VELD_EPROTO, "%s: missing '%s'", ctx, keys[i]);
	return VELD_OK;
}

static int get_uint(const msgpack_object *o, const char *ctx, const char *key, uint64_t min,
                    uint64_t *out)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return bad(ctx, key, "is negative");
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return bad(ctx, key, "must be an unsigned integer");
	if (o->via.u64 < min)
		return veld__err(VELD_EPROTO, "%s: '%s' must be at least %llu", ctx, key,
		                 (unsigned long long)min);
	*out = o->via.u64;
	return VELD_OK;
}

static int get_bool(const msgpack_object *o, const char *ctx, const char *key, int *out)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return bad(ctx, key, "must be true or false");
	*out = o->via.boolean ? 1 : 0;
	return VELD_OK;
}

static int get_bin(const msgpack_object *o, const char *ctx, const char *key, size_t n,
                   uint8_t *out)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
		return veld__err(VELD_EPROTO, "%s: '%s' must be a bin of %zu bytes", ctx, key, n);
	memcpy(out, o->via.bin.ptr, n);
	return VELD_OK;
}

/* A fixed-size bin or nil; *present says which. */
static int get_bin_or_nil(const msgpack_object *o, const char *ctx, const char *key, size_t n,
                          uint8_t *out, int *present)
{
	*present = o->type != MSGPACK_OBJECT_NIL;
	if (!*present)
		return VELD_OK;
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
		return veld__err(VELD_EPROTO, "%s: '%s' must be nil or a bin of %zu bytes", ctx, key,
		                 n);
	memcpy(out, o->via.bin.ptr, n);
	return VELD_OK;
}

/* A string of at most `max` bytes under `rule`, copied NUL-terminated into
 * `out`, which holds max + 1 bytes. */
static int get_str(const msgpack_object *o, const char *ctx, const char *key, size_t max,
                   enum str_rule rule, char *out)
{
	int rc;
	if (o->type != MSGPACK_OBJECT_STR)
		return bad(ctx, key, "must be a string");
	if ((rc = check_str(VELD_EPROTO, ctx, key, o->via.str.ptr, o->via.str.size, max, rule)) !=
	    VELD_OK)
		return rc;
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	return VELD_OK;
}

static int get_array(const msgpack_object *o, const char *ctx, const char *key, size_t max,
                     const msgpack_object_array **out)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return bad(ctx, key, "must be an array");
	if (o->via.array.size > max)
		return veld__err(VELD_EPROTO, "%s: '%s' has more than %zu entries", ctx, key, max);
	*out = &o->via.array;
	return VELD_OK;
}

/* The first pass over a message measures its arrays, the second carves them
 * out of one block (w->alloc), in the same order. */
struct block {
	uint8_t *base;
	size_t used;
};

static void *take(struct block *b, size_t count, size_t size)
{
	const size_t a = alignof(max_align_t);
	size_t off = (b->used + a - 1) & ~(a - 1);
	b->used = off + count * size;
	return b->base && count ? b->base + off : NULL;
}

static int block_alloc(struct veld__wire *w, struct block *b)
{
	if (b->used && !(w->alloc = calloc(1, b->used)))
		return veld__err(VELD_ENOMEM, "out of memory");
	b->base = w->alloc;
	b->used = 0;
	return VELD_OK;
}

/* Steps 1 and 2, then the body's map: its first key must be "v" with value 1.
 * val[] is indexed by keys[], whose first entry is "v". */
static int decode_begin(struct veld__wire *w, const uint8_t *body, size_t len, const char *ctx,
                        int depth, size_t max_values, const char *const *keys, size_t nkeys,
                        uint32_t optional, const msgpack_object **val)
{
	const msgpack_object *root;
	size_t off = 0;
	uint64_t v = 0;
	int rc;

	memset(w, 0, sizeof *w);
	msgpack_unpacked_init(&w->u);
	if (len > VELD_WIRE_MAX_BODY)
		return veld__err(VELD_EPROTO, "%s: the body is larger than 4 MiB", ctx);
	if (!body && len)
		return veld__err(VELD_EPROTO, "%s: no body", ctx);
	if ((rc = scan(body, len, ctx, depth, max_values)) != VELD_OK)
		return rc;
	switch (msgpack_unpack_next(&w->u, (const char *)body, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return veld__err(VELD_ENOMEM, "out of memory");
	default:
		return veld__err(VELD_EPROTO, "%s: the body is not valid msgpack", ctx);
	}
	if (off != len)
		return veld__err(VELD_EPROTO, "%s: trailing bytes after the map", ctx);
	root = &w->u.data;
	if (root->type != MSGPACK_OBJECT_MAP)
		return veld__err(VELD_EPROTO, "%s: the body must be a map", ctx);
	if (root->via.map.size == 0 || root->via.map.ptr[0].key.type != MSGPACK_OBJECT_STR ||
	    root->via.map.ptr[0].key.via.str.size != 1 || root->via.map.ptr[0].key.via.str.ptr[0] != 'v')
		return veld__err(VELD_EPROTO, "%s: the first key must be 'v'", ctx);
	if ((rc = map_index(root, ctx, keys, nkeys, optional, val)) != VELD_OK)
		return rc;
	if ((rc = get_uint(val[0], ctx, "v", 0, &v)) != VELD_OK)
		return rc;
	if (v != VELD_WIRE_VERSION)
		return veld__err(VELD_EPROTO, "%s: 'v' must be %d", ctx, VELD_WIRE_VERSION);
	return VELD_OK;
}

/* On success nothing points into the zone any more: release it now. On
 * failure release everything and zero the message. */
static int decode_end(struct veld__wire *w, void *m, size_t size, int rc)
{
	if (rc == VELD_OK) {
		msgpack_unpacked_destroy(&w->u);
		msgpack_unpacked_init(&w->u);
	} else {
		veld__wire_free(w);
		memset(m, 0, size);
	}
	return rc;
}

/* ---- operations ------------------------------------------------------------ */

static const char *const op_keys[12] = {"version", "device", "seq",  "hlc",   "kind",  "entity",
                                        "client",  "team",   "kv",   "field", "value", "supersedes"};

/* Supersedes entries of an op for the sizing pass; 0 for anything that is
 * not a well-formed op (the second pass refuses it before writing). */
static size_t op_sup_count(const msgpack_object *o)
{
	const msgpack_object *s;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 12)
		return 0;
	s = &o->via.array.ptr[11];
	if (s->type != MSGPACK_OBJECT_ARRAY || s->via.array.size > VELD_OP_MAX_SUPERSEDES)
		return 0;
	return s->via.array.size;
}

/* Decode one operation; its supersedes list goes to *sup, which has room
 * for *room references and is advanced past them. Computes op->hash. */
static int get_op(const msgpack_object *o, const char *ctx, veld__op *op, veld__ref **sup,
                  size_t *room)
{
	const msgpack_object *e;
	const msgpack_object_array *refs = NULL;
	uint64_t version = 0;
	int rc;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 12)
		return veld__err(VELD_EPROTO, "%s: must be an array of 12 elements", ctx);
	e = o->via.array.ptr;
	if ((rc = get_uint(&e[0], ctx, op_keys[0], 0, &version)) != VELD_OK)
		return rc;
	if (version != VELD_OP_VERSION)
		return veld__err(VELD_EPROTO, "%s: 'version' must be %d", ctx, VELD_OP_VERSION);
	if ((rc = get_bin(&e[1], ctx, op_keys[1], VELD_ID_BYTES, op->device)) ||
	    (rc = get_uint(&e[2], ctx, op_keys[2], 1, &op->seq)) ||
	    (rc = get_uint(&e[3], ctx, op_keys[3], 0, &op->hlc)) ||
	    (rc = get_str(&e[4], ctx, op_keys[4], VELD_KIND_MAX, S_KIND, op->kind)) ||
	    (rc = get_bin(&e[5], ctx, op_keys[5], VELD_ID_BYTES, op->entity)) ||
	    (rc = get_bin(&e[6], ctx, op_keys[6], VELD_ID_BYTES, op->client)) ||
	    (rc = get_str(&e[7], ctx, op_keys[7], VELD_TEAM_MAX, S_TEAM, op->team)) ||
	    (rc = get_uint(&e[8], ctx, op_keys[8], 1, &op->kv)) ||
	    (rc = get_str(&e[9], ctx, op_keys[9], VELD_FIELD_MAX, S_TEXT, op->field)))
		return rc;
	if (e[10].type == MSGPACK_OBJECT_NIL) {
		op->value = NULL;
		op->value_len = 0;
	} else if (e[10].type == MSGPACK_OBJECT_BIN) {
		if (e[10].via.bin.size > MAX_VALUE_BYTES)
			return veld__err(VELD_EPROTO, "%s: 'value' is larger than %d bytes", ctx,
			                 MAX_VALUE_BYTES);
		op->value = (const uint8_t *)e[10].via.bin.ptr; /* into the body */
		op->value_len = e[10].via.bin.size;
	} else {
		return bad(ctx, op_keys[10], "must be a bin or nil");
	}
	if ((rc = get_array(&e[11], ctx, op_keys[11], VELD_OP_MAX_SUPERSEDES, &refs)) != VELD_OK)
		return rc;
	if (refs->size > *room) /* cannot happen: the sizing pass counted them */
		return veld__err(VELD_EPROTO, "%s: 'supersedes' changed between passes", ctx);
	for (uint32_t i = 0; i < refs->size; i++) {
		const msgpack_object *r = &refs->ptr[i];
		if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2)
			return bad(ctx, op_keys[11], "entries must be [device, seq]");
		if ((rc = get_bin(&r->via.array.ptr[0], ctx, "supersedes device", VELD_ID_BYTES,
		                  (*sup)[i].device)) ||
		    (rc = get_uint(&r->via.array.ptr[1], ctx, "supersedes seq", 0, &(*sup)[i].seq)))
			return rc;
	}
	op->sup = refs->size ? *sup : NULL;
	op->nsup = refs->size;
	*sup += refs->size;
	*room -= refs->size;
	veld__op_hash(op);
	return VELD_OK;
}

void veld__wire_pack_op(msgpack_packer *pk, const veld__op *op)
{
	/* core's canonical encoding is the only one: these are the hash input */
	veld__op_pack(pk, op);
}

static const char *const env_keys[] = {"client", "kv", "to", "tv", "sealed"};

static int get_envelope(const msgpack_object *o, const char *ctx, struct veld__envelope *e)
{
	const msgpack_object *val[5];
	int rc;
	if ((rc = map_index(o, ctx, env_keys, 5, 0, val)) ||
	    (rc = get_bin(val[0], ctx, env_keys[0], VELD_ID_BYTES, e->client)) ||
	    (rc = get_uint(val[1], ctx, env_keys[1], 1, &e->kv)) ||
	    (rc = get_str(val[2], ctx, env_keys[2], TO_MAX, S_TO, e->to)) ||
	    (rc = get_uint(val[3], ctx, env_keys[3], 0, &e->tv)) ||
	    (rc = get_bin(val[4], ctx, env_keys[4], VELD_SEALED_KEY_BYTES, e->sealed)))
		return rc;
	return VELD_OK;
}

/* ---- push ------------------------------------------------------------------ */

static const char *const push_keys[] = {"v", "ops", "sig", "envelopes"};

int veld__wire_push_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                               struct veld__push_req *m)
{
	static const char ctx[] = "push";
	const msgpack_object *val[4];
	const msgpack_object_array *ops = NULL, *envs = NULL;
	struct block b = {0};
	veld__ref *sup = NULL;
	size_t nsup = 0, room;
	int rc;

	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, PUSH_DEPTH, PUSH_VALUES, push_keys, 4, 0, val)) ||
	    (rc = get_array(val[1], ctx, "ops", VELD_WIRE_MAX_OPS, &ops)) ||
	    (rc = get_array(val[3], ctx, "envelopes", VELD_WIRE_MAX_ENVS, &envs)) ||
	    (rc = get_bin_or_nil(val[2], ctx, "sig", SIG_BYTES, m->sig, &m->has_sig)))
		return decode_end(w, m, sizeof *m, rc);
	if (m->has_sig != (ops->size > 0))
		return decode_end(w, m, sizeof *m,
		                  bad(ctx, "sig", "must be nil exactly when 'ops' is empty"));

	for (uint32_t i = 0; i < ops->size; i++)
		nsup += op_sup_count(&ops->ptr[i]);
	for (int pass = 0; pass < 2; pass++) {
		m->ops = take(&b, ops->size, sizeof *m->ops);
		m->envs = take(&b, envs->size, sizeof *m->envs);
		sup = take(&b, nsup, sizeof *sup);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->nops = ops->size;
	m->nenvs = envs->size;
	room = nsup;
	for (size_t i = 0; i < m->nops; i++)
		if ((rc = get_op(&ops->ptr[i], "push operation", &m->ops[i], &sup, &room)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	for (size_t i = 0; i < m->nenvs; i++)
		if ((rc = get_envelope(&envs->ptr[i], "push envelope", &m->envs[i])) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const push_resp_keys[] = {"v", "acked", "stored"};

int veld__wire_push_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                struct veld__push_resp *m)
{
	static const char ctx[] = "push response";
	const msgpack_object *val[3];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, push_resp_keys, 3, 0,
	                       val)) ||
	    (rc = get_uint(val[1], ctx, "acked", 0, &m->acked)) ||
	    (rc = get_uint(val[2], ctx, "stored", 0, &m->stored)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- pull ------------------------------------------------------------------ */

static const char *const pull_keys[] = {"v",         "ops",    "batches", "authors",
                                        "envelopes", "team_keys", "erased", "next",
                                        "env_next",  "erase_next", "more", "policy"};
static const char *const policy_keys[] = {"v", "team", "at", "fields", "sig"};

/* A policy's "fields": governed client field names, each once, in their
 * canonical order (policy.h), into a mask. */
static int get_policy_fields(const msgpack_object *o, const char *ctx, uint32_t *mask)
{
	const msgpack_object_array *a = NULL;
	int rc, last = -1;
	*mask = 0;
	if ((rc = get_array(o, ctx, "fields", VELD_POLICY_NFIELDS, &a)) != VELD_OK)
		return rc;
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *f = &a->ptr[i];
		int k = -1;
		if (f->type != MSGPACK_OBJECT_STR)
			return bad(ctx, "fields", "must hold strings");
		for (int j = 0; j < VELD_POLICY_NFIELDS; j++)
			if (strlen(veld__policy_fields[j]) == f->via.str.size &&
			    memcmp(veld__policy_fields[j], f->via.str.ptr, f->via.str.size) == 0)
				k = j;
		if (k < 0)
			return bad(ctx, "fields", "holds a name the policy does not govern");
		if (k <= last)
			return bad(ctx, "fields", "must list each field once, in the canonical order");
		last = k;
		*mask |= 1u << k;
	}
	return VELD_OK;
}

/* A policy's values, indexed as policy_keys without "v": team, at,
 * fields, sig. */
static int get_policy(const msgpack_object *const *val, const char *ctx,
                      struct veld__field_policy *p)
{
	int rc;
	if ((rc = get_str(val[0], ctx, "team", VELD_TEAM_MAX, S_TEAM, p->team)) ||
	    (rc = get_uint(val[1], ctx, "at", 1, &p->at)) ||
	    (rc = get_policy_fields(val[2], ctx, &p->mask)) ||
	    (rc = get_bin(val[3], ctx, "sig", SIG_BYTES, p->sig)))
		return rc;
	return VELD_OK;
}
static const char *const batch_keys[] = {"device", "first", "last", "sig", "hashes"};
static const char *const team_key_keys[] = {"team", "tv", "pk", "sealed"};

/* [uint cursor, x]: *x gets the second element. */
static int get_pair(const msgpack_object *o, const char *ctx, const char *key, uint64_t *cursor,
                    const msgpack_object **x)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
		return bad(ctx, key, "entries must be [cursor, value]");
	*x = &o->via.array.ptr[1];
	return get_uint(&o->via.array.ptr[0], ctx, "cursor", 0, cursor);
}

/* An "authors" array of [bin16 device, bin32 sign_pk] into out. */
static int get_authors(const msgpack_object_array *authors, const char *ctx,
                       struct veld__author *out)
{
	int rc;
	for (uint32_t i = 0; i < authors->size; i++) {
		const msgpack_object *a = &authors->ptr[i];
		if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 2)
			return bad(ctx, "authors", "entries must be [device, sign_pk]");
		if ((rc = get_bin(&a->via.array.ptr[0], ctx, "device", VELD_ID_BYTES, out[i].device)) ||
		    (rc = get_bin(&a->via.array.ptr[1], ctx, "sign_pk", PK_BYTES, out[i].sign_pk)))
			return rc;
	}
	return VELD_OK;
}

static int get_batch(const msgpack_object *o, const char *ctx, struct veld__batch *b)
{
	const msgpack_object *val[5];
	int rc;
	if ((rc = map_index(o, ctx, batch_keys, 5, 0, val)) ||
	    (rc = get_bin(val[0], ctx, batch_keys[0], VELD_ID_BYTES, b->device)) ||
	    (rc = get_uint(val[1], ctx, batch_keys[1], 0, &b->first)) ||
	    (rc = get_uint(val[2], ctx, batch_keys[2], 0, &b->last)) ||
	    (rc = get_bin(val[3], ctx, batch_keys[3], SIG_BYTES, b->sig)))
		return rc;
	if (b->last < b->first)
		return bad(ctx, "last", "is below 'first'");
	if (b->last - b->first >= MAX_BATCH_OPS)
		return veld__err(VELD_EPROTO, "%s: a batch spans more than %d operations", ctx,
		                 MAX_BATCH_OPS);
	if (val[4]->type != MSGPACK_OBJECT_BIN ||
	    val[4]->via.bin.size != HASH_BYTES * (b->last - b->first + 1))
		return bad(ctx, "hashes", "must be a bin of 32 x (last - first + 1) bytes");
	b->hashes = (const uint8_t *)val[4]->via.bin.ptr; /* into the body */
	return VELD_OK;
}

static int get_team_key(const msgpack_object *o, const char *ctx, struct veld__team_key *t)
{
	const msgpack_object *val[4];
	int rc;
	if ((rc = map_index(o, ctx, team_key_keys, 4, 0, val)) ||
	    (rc = get_str(val[0], ctx, team_key_keys[0], VELD_TEAM_MAX, S_TEAM, t->team)) ||
	    (rc = get_uint(val[1], ctx, team_key_keys[1], 0, &t->tv)) ||
	    (rc = get_bin(val[2], ctx, team_key_keys[2], PK_BYTES, t->pk)) ||
	    (rc = get_bin(val[3], ctx, team_key_keys[3], VELD_SEALED_KEY_BYTES, t->sealed)))
		return rc;
	return VELD_OK;
}

int veld__wire_pull_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                struct veld__pull_resp *m)
{
	static const char ctx[] = "pull";
	const msgpack_object *val[12], *x = NULL;
	const msgpack_object_array *ops = NULL, *batches = NULL, *authors = NULL, *envs = NULL,
	                           *tks = NULL, *erased = NULL;
	struct block b = {0};
	veld__ref *sup = NULL;
	size_t nsup = 0, room;
	int rc;

	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, PULL_DEPTH, PULL_VALUES, pull_keys, 12, 1u << 11,
	                       val)) ||
	    (rc = get_array(val[1], ctx, "ops", VELD_WIRE_MAX_PAGE, &ops)) ||
	    (rc = get_array(val[2], ctx, "batches", VELD_WIRE_MAX_PAGE, &batches)) ||
	    (rc = get_array(val[3], ctx, "authors", VELD_WIRE_MAX_PAGE, &authors)) ||
	    (rc = get_array(val[4], ctx, "envelopes", VELD_WIRE_MAX_ENVS, &envs)) ||
	    (rc = get_array(val[5], ctx, "team_keys", MAX_TEAM_KEYS, &tks)) ||
	    (rc = get_array(val[6], ctx, "erased", VELD_WIRE_MAX_ERASED, &erased)) ||
	    (rc = get_uint(val[7], ctx, "next", 0, &m->next)) ||
	    (rc = get_uint(val[8], ctx, "env_next", 0, &m->env_next)) ||
	    (rc = get_uint(val[9], ctx, "erase_next", 0, &m->erase_next)) ||
	    (rc = get_bool(val[10], ctx, "more", &m->more)))
		return decode_end(w, m, sizeof *m, rc);
	if (val[11] && val[11]->type != MSGPACK_OBJECT_NIL) {
		const msgpack_object *pv[4];
		if ((rc = map_index(val[11], "pull policy", policy_keys + 1, 4, 0, pv)) ||
		    (rc = get_policy(pv, "pull policy", &m->policy)))
			return decode_end(w, m, sizeof *m, rc);
		m->has_policy = 1;
	}

	for (uint32_t i = 0; i < ops->size; i++) {
		const msgpack_object *p = &ops->ptr[i];
		if (p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size == 2)
			nsup += op_sup_count(&p->via.array.ptr[1]);
	}
	for (int pass = 0; pass < 2; pass++) {
		m->ops = take(&b, ops->size, sizeof *m->ops);
		m->batches = take(&b, batches->size, sizeof *m->batches);
		m->authors = take(&b, authors->size, sizeof *m->authors);
		m->envs = take(&b, envs->size, sizeof *m->envs);
		m->team_keys = take(&b, tks->size, sizeof *m->team_keys);
		m->cursors = take(&b, ops->size, sizeof *m->cursors);
		m->env_cursors = take(&b, envs->size, sizeof *m->env_cursors);
		m->erased = take(&b, erased->size, sizeof *m->erased);
		sup = take(&b, nsup, sizeof *sup);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->nops = ops->size;
	m->nbatches = batches->size;
	m->nauthors = authors->size;
	m->nenvs = envs->size;
	m->nteam_keys = tks->size;
	m->nerased = erased->size;

	room = nsup;
	for (size_t i = 0; i < m->nops; i++)
		if ((rc = get_pair(&ops->ptr[i], ctx, "ops", &m->cursors[i], &x)) ||
		    (rc = get_op(x, "pull operation", &m->ops[i], &sup, &room)))
			return decode_end(w, m, sizeof *m, rc);
	for (size_t i = 0; i < m->nbatches; i++)
		if ((rc = get_batch(&batches->ptr[i], "pull batch", &m->batches[i])) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	if ((rc = get_authors(authors, ctx, m->authors)) != VELD_OK)
		return decode_end(w, m, sizeof *m, rc);
	for (size_t i = 0; i < m->nenvs; i++)
		if ((rc = get_pair(&envs->ptr[i], ctx, "envelopes", &m->env_cursors[i], &x)) ||
		    (rc = get_envelope(x, "pull envelope", &m->envs[i])))
			return decode_end(w, m, sizeof *m, rc);
	for (size_t i = 0; i < m->nteam_keys; i++)
		if ((rc = get_team_key(&tks->ptr[i], "pull team key", &m->team_keys[i])) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	for (size_t i = 0; i < m->nerased; i++) {
		const msgpack_object *e = &erased->ptr[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4)
			return decode_end(w, m, sizeof *m,
			                  bad(ctx, "erased", "entries must be [cursor, client, at, sig]"));
		struct veld__erasure *er = &m->erased[i];
		if ((rc = get_uint(&e->via.array.ptr[0], ctx, "cursor", 0, &er->cursor)) ||
		    (rc = get_bin(&e->via.array.ptr[1], ctx, "client", VELD_ID_BYTES, er->client)) ||
		    (rc = get_uint(&e->via.array.ptr[2], ctx, "at", 0, &er->at)) ||
		    (rc = get_bin(&e->via.array.ptr[3], ctx, "sig", SIG_BYTES, er->sig)))
			return decode_end(w, m, sizeof *m, rc);
	}
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- enroll ---------------------------------------------------------------- */

static const char *const enroll_keys[] = {"v", "auth", "device", "sign_pk", "box_pk", "label"};

int veld__wire_enroll_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__enroll_req *m)
{
	static const char ctx[] = "enroll";
	const msgpack_object *val[6];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, enroll_keys, 6, 0, val)) ||
	    (rc = get_bin(val[1], ctx, "auth", 32, m->auth)) ||
	    (rc = get_bin(val[2], ctx, "device", VELD_ID_BYTES, m->device)) ||
	    (rc = get_bin(val[3], ctx, "sign_pk", PK_BYTES, m->sign_pk)) ||
	    (rc = get_bin(val[4], ctx, "box_pk", PK_BYTES, m->box_pk)) ||
	    (rc = get_str(val[5], ctx, "label", LABEL_MAX, S_TEXT, m->label)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const enroll_resp_keys[] = {"v",           "role",          "team",
                                               "tv",          "team_pk",       "team_sealed",
                                               "office_device", "office_sign_pk", "office_box_pk"};

int veld__wire_enroll_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                  struct veld__enroll_resp *m)
{
	static const char ctx[] = "enroll response";
	const msgpack_object *val[9];
	int has_pk, has_sealed, has_dev, has_sign, has_box;
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, enroll_resp_keys, 9, 0,
	                       val)) ||
	    (rc = get_str(val[1], ctx, "role", ROLE_MAX, S_ROLE, m->role)) ||
	    (rc = get_str(val[2], ctx, "team", VELD_TEAM_MAX, S_TEAM_OR_STAR, m->team)) ||
	    (rc = get_uint(val[3], ctx, "tv", 0, &m->tv)) ||
	    (rc = get_bin_or_nil(val[4], ctx, "team_pk", PK_BYTES, m->team_pk, &has_pk)) ||
	    (rc = get_bin_or_nil(val[5], ctx, "team_sealed", VELD_TEAM_SEALED_BYTES, m->team_sealed,
	                         &has_sealed)) ||
	    (rc = get_bin_or_nil(val[6], ctx, "office_device", VELD_ID_BYTES, m->office_device,
	                         &has_dev)) ||
	    (rc = get_bin_or_nil(val[7], ctx, "office_sign_pk", PK_BYTES, m->office_sign_pk,
	                         &has_sign)) ||
	    (rc = get_bin_or_nil(val[8], ctx, "office_box_pk", PK_BYTES, m->office_box_pk, &has_box)))
		return decode_end(w, m, sizeof *m, rc);
	if (has_pk != has_sealed)
		return decode_end(w, m, sizeof *m,
		                  bad(ctx, "team_sealed", "must be nil exactly when 'team_pk' is nil"));
	if (has_dev != has_sign || has_dev != has_box)
		return decode_end(w, m, sizeof *m,
		                  bad(ctx, "office_device",
		                      "and the office keys must be all nil or all set"));
	m->has_team_key = has_pk;
	m->has_office = has_dev;
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- invite, team keys, revoke ------------------------------------------- */

static const char *const invite_keys[] = {"v", "auth", "team", "expires", "tv", "team_sealed"};

int veld__wire_invite_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__invite_req *m)
{
	static const char ctx[] = "invite";
	const msgpack_object *val[6];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, invite_keys, 6, 0, val)) ||
	    (rc = get_bin(val[1], ctx, "auth", 32, m->auth)) ||
	    (rc = get_str(val[2], ctx, "team", VELD_TEAM_MAX, S_TEAM, m->team)) ||
	    (rc = get_uint(val[3], ctx, "expires", 0, &m->expires)) ||
	    (rc = get_uint(val[4], ctx, "tv", 0, &m->tv)) ||
	    (rc = get_bin(val[5], ctx, "team_sealed", VELD_TEAM_SEALED_BYTES, m->team_sealed)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const team_keys_keys[] = {"v", "team", "tv", "pk", "sealed"};
static const char *const sealed_for_keys[] = {"device", "sealed"};

int veld__wire_team_keys_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                    struct veld__team_keys_req *m)
{
	static const char ctx[] = "team-keys";
	const msgpack_object *val[5], *ev[2];
	const msgpack_object_array *sealed = NULL;
	struct block b = {0};
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, LIST_DEPTH, TEAM_KEYS_VALUES, team_keys_keys, 5, 0,
	                       val)) ||
	    (rc = get_str(val[1], ctx, "team", VELD_TEAM_MAX, S_TEAM, m->team)) ||
	    (rc = get_uint(val[2], ctx, "tv", 0, &m->tv)) ||
	    (rc = get_bin(val[3], ctx, "pk", PK_BYTES, m->pk)) ||
	    (rc = get_array(val[4], ctx, "sealed", VELD_WIRE_MAX_DEVICES, &sealed)))
		return decode_end(w, m, sizeof *m, rc);
	for (int pass = 0; pass < 2; pass++) {
		m->sealed = take(&b, sealed->size, sizeof *m->sealed);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->nsealed = sealed->size;
	for (size_t i = 0; i < m->nsealed; i++)
		if ((rc = map_index(&sealed->ptr[i], "team-keys entry", sealed_for_keys, 2, 0, ev)) ||
		    (rc = get_bin(ev[0], "team-keys entry", "device", VELD_ID_BYTES,
		                  m->sealed[i].device)) ||
		    (rc = get_bin(ev[1], "team-keys entry", "sealed", VELD_SEALED_KEY_BYTES,
		                  m->sealed[i].sealed)))
			return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const revoke_keys[] = {"v", "device"};

int veld__wire_revoke_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__revoke_req *m)
{
	static const char ctx[] = "revoke";
	const msgpack_object *val[2];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, revoke_keys, 2, 0, val)) ||
	    (rc = get_bin(val[1], ctx, "device", VELD_ID_BYTES, m->device)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const erase_keys[] = {"v", "client", "at", "sig"};

int veld__wire_erase_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                struct veld__erase_req *m)
{
	static const char ctx[] = "erase";
	const msgpack_object *val[4];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, erase_keys, 4, 0, val)) ||
	    (rc = get_bin(val[1], ctx, "client", VELD_ID_BYTES, m->client)) ||
	    (rc = get_uint(val[2], ctx, "at", 0, &m->at)) ||
	    (rc = get_bin(val[3], ctx, "sig", SIG_BYTES, m->sig)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

int veld__wire_policy_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__field_policy *m)
{
	static const char ctx[] = "policy";
	const msgpack_object *val[5];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, POLICY_DEPTH, POLICY_VALUES, policy_keys, 5, 0,
	                       val)) ||
	    (rc = get_policy(val + 1, ctx, m)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

static const char *const revoke_resp_keys[] = {"v", "team"};

int veld__wire_revoke_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                  struct veld__revoke_resp *m)
{
	static const char ctx[] = "revoke response";
	const msgpack_object *val[2];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, revoke_resp_keys, 2, 0,
	                       val)) ||
	    (rc = get_str(val[1], ctx, "team", VELD_TEAM_MAX, S_TEAM_OR_STAR, m->team)))
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- devices ------------------------------------------------------------- */

static const char *const devices_keys[] = {"v", "devices"};
static const char *const device_keys[] = {"device", "team",   "role",     "label",
                                          "sign_pk", "box_pk", "enrolled", "revoked"};

static int get_device(const msgpack_object *o, const char *ctx, struct veld__device_info *d)
{
	const msgpack_object *val[8];
	int rc;
	if ((rc = map_index(o, ctx, device_keys, 8, 0, val)) ||
	    (rc = get_bin(val[0], ctx, "device", VELD_ID_BYTES, d->device)) ||
	    (rc = get_str(val[1], ctx, "team", VELD_TEAM_MAX, S_TEAM_OR_STAR, d->team)) ||
	    (rc = get_str(val[2], ctx, "role", ROLE_MAX, S_ROLE, d->role)) ||
	    (rc = get_str(val[3], ctx, "label", LABEL_MAX, S_TEXT, d->label)) ||
	    (rc = get_bin(val[4], ctx, "sign_pk", PK_BYTES, d->sign_pk)) ||
	    (rc = get_bin(val[5], ctx, "box_pk", PK_BYTES, d->box_pk)) ||
	    (rc = get_uint(val[6], ctx, "enrolled", 0, &d->enrolled)))
		return rc;
	/* 0 means "not revoked" in the struct, so a revocation time is >= 1 */
	d->revoked = 0;
	if (val[7]->type != MSGPACK_OBJECT_NIL)
		return get_uint(val[7], ctx, "revoked", 1, &d->revoked);
	return VELD_OK;
}

int veld__wire_devices_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                   struct veld__devices_resp *m)
{
	static const char ctx[] = "devices";
	const msgpack_object *val[2];
	const msgpack_object_array *devs = NULL;
	struct block b = {0};
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, LIST_DEPTH, DEVICES_VALUES, devices_keys, 2, 0,
	                       val)) ||
	    (rc = get_array(val[1], ctx, "devices", VELD_WIRE_MAX_DEVICES, &devs)))
		return decode_end(w, m, sizeof *m, rc);
	for (int pass = 0; pass < 2; pass++) {
		m->devices = take(&b, devs->size, sizeof *m->devices);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->ndevices = devs->size;
	for (size_t i = 0; i < m->ndevices; i++)
		if ((rc = get_device(&devs->ptr[i], "devices entry", &m->devices[i])) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- access log -------------------------------------------------------------- */

static const char *const audit_push_keys[] = {"v", "entries"};
static const char *const audit_pull_keys[] = {"v", "entries", "authors", "next", "more"};

static int get_sealed_entry(const msgpack_object *o, const char *ctx, const uint8_t **p,
                            size_t *n)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size == 0 ||
	    o->via.bin.size > VELD_AUDIT_SEALED_MAX)
		return veld__err(VELD_EPROTO, "%s: 'sealed' must be a bin of 1 to %d bytes", ctx,
		                 VELD_AUDIT_SEALED_MAX);
	*p = (const uint8_t *)o->via.bin.ptr; /* into the body */
	*n = o->via.bin.size;
	return VELD_OK;
}

/* Entries are consecutive: entries[i].seq = entries[0].seq + i, from 1. */
static int check_audit_seqs(int code, const char *ctx, const struct veld__audit_entry *e,
                            size_t n, int per_device)
{
	for (size_t i = 0; i < n; i++) {
		if (e[i].seq < 1)
			return veld__err(code, "%s: 'seq' must be at least 1", ctx);
		if (!per_device && i > 0 && e[i].seq != e[0].seq + i)
			return veld__err(code, "%s: entries must have consecutive seq", ctx);
	}
	return VELD_OK;
}

static int get_hex_id(const msgpack_object *o, const char *ctx, const char *key, char out[33])
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != 32)
		return bad(ctx, key, "must be 32 lower-case hex digits");
	for (size_t i = 0; i < 32; i++) {
		char c = o->via.str.ptr[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return bad(ctx, key, "must be 32 lower-case hex digits");
	}
	memcpy(out, o->via.str.ptr, 32);
	out[32] = 0;
	return VELD_OK;
}

int veld__wire_audit_plain_decode(const uint8_t *p, size_t len, struct veld__audit_plain *out)
{
	static const char ctx[] = "access-log entry";
	msgpack_unpacked u;
	const msgpack_object *e;
	size_t off = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = scan(p, len, ctx, 1, 10)) != VELD_OK)
		return rc;
	msgpack_unpacked_init(&u);
	switch (msgpack_unpack_next(&u, (const char *)p, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		msgpack_unpacked_destroy(&u);
		return veld__err(VELD_ENOMEM, "out of memory");
	default:
		msgpack_unpacked_destroy(&u);
		return veld__err(VELD_EPROTO, "%s: not valid msgpack", ctx);
	}
	if (off != len || u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size != 9) {
		msgpack_unpacked_destroy(&u);
		return veld__err(VELD_EPROTO, "%s: must be exactly one array of 9 elements", ctx);
	}
	e = u.data.via.array.ptr;
	if ((rc = get_uint(&e[0], ctx, "seq", 1, &out->seq)) ||
	    (rc = get_uint(&e[1], ctx, "at", 0, &out->at)) ||
	    (rc = get_str(&e[2], ctx, "event", 32, S_TEXT, out->event)) ||
	    (rc = get_str(&e[3], ctx, "outcome", 32, S_TEXT, out->outcome)) ||
	    (e[4].type != MSGPACK_OBJECT_NIL && (rc = get_hex_id(&e[4], ctx, "client", out->client))) ||
	    (rc = get_str(&e[5], ctx, "user", 64, S_TEXT, out->user)) ||
	    (rc = get_str(&e[6], ctx, "role", 64, S_TEXT, out->role)) ||
	    (rc = get_hex_id(&e[7], ctx, "device", out->device)) ||
	    (rc = get_str(&e[8], ctx, "purpose", 1000, S_TEXT, out->purpose))) {
		msgpack_unpacked_destroy(&u);
		memset(out, 0, sizeof *out);
		return rc;
	}
	msgpack_unpacked_destroy(&u);
	return VELD_OK;
}

int veld__wire_audit_push_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                     struct veld__audit_push_req *m)
{
	static const char ctx[] = "audit push";
	const msgpack_object *val[2];
	const msgpack_object_array *ents = NULL;
	struct block b = {0};
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, LIST_DEPTH, AUDIT_PUSH_VALUES, audit_push_keys, 2,
	                       0, val)) ||
	    (rc = get_array(val[1], ctx, "entries", VELD_WIRE_MAX_AUDIT, &ents)))
		return decode_end(w, m, sizeof *m, rc);
	for (int pass = 0; pass < 2; pass++) {
		m->entries = take(&b, ents->size, sizeof *m->entries);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->n = ents->size;
	for (size_t i = 0; i < m->n; i++) {
		const msgpack_object *e = &ents->ptr[i];
		struct veld__audit_entry *x = &m->entries[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3)
			return decode_end(w, m, sizeof *m,
			                  bad(ctx, "entries", "entries must be [seq, sealed, sig]"));
		if ((rc = get_uint(&e->via.array.ptr[0], ctx, "seq", 1, &x->seq)) ||
		    (rc = get_sealed_entry(&e->via.array.ptr[1], ctx, &x->sealed, &x->sealed_len)) ||
		    (rc = get_bin(&e->via.array.ptr[2], ctx, "sig", SIG_BYTES, x->sig)))
			return decode_end(w, m, sizeof *m, rc);
	}
	rc = check_audit_seqs(VELD_EPROTO, ctx, m->entries, m->n, 0);
	return decode_end(w, m, sizeof *m, rc);
}

int veld__wire_audit_pull_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                      struct veld__audit_pull_resp *m)
{
	static const char ctx[] = "audit pull";
	const msgpack_object *val[5];
	const msgpack_object_array *ents = NULL, *authors = NULL;
	struct block b = {0};
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, LIST_DEPTH, AUDIT_PULL_VALUES, audit_pull_keys, 5,
	                       0, val)) ||
	    (rc = get_array(val[1], ctx, "entries", VELD_WIRE_MAX_PAGE, &ents)) ||
	    (rc = get_array(val[2], ctx, "authors", VELD_WIRE_MAX_PAGE, &authors)) ||
	    (rc = get_uint(val[3], ctx, "next", 0, &m->next)) ||
	    (rc = get_bool(val[4], ctx, "more", &m->more)))
		return decode_end(w, m, sizeof *m, rc);
	for (int pass = 0; pass < 2; pass++) {
		m->entries = take(&b, ents->size, sizeof *m->entries);
		m->authors = take(&b, authors->size, sizeof *m->authors);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return decode_end(w, m, sizeof *m, rc);
	}
	m->n = ents->size;
	m->nauthors = authors->size;
	for (size_t i = 0; i < m->n; i++) {
		const msgpack_object *e = &ents->ptr[i];
		struct veld__audit_entry *x = &m->entries[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 5)
			return decode_end(w, m, sizeof *m,
			                  bad(ctx, "entries",
			                      "entries must be [cursor, device, seq, sealed, sig]"));
		if ((rc = get_uint(&e->via.array.ptr[0], ctx, "cursor", 1, &x->cursor)) ||
		    (rc = get_bin(&e->via.array.ptr[1], ctx, "device", VELD_ID_BYTES, x->device)) ||
		    (rc = get_uint(&e->via.array.ptr[2], ctx, "seq", 1, &x->seq)) ||
		    (rc = get_sealed_entry(&e->via.array.ptr[3], ctx, &x->sealed, &x->sealed_len)) ||
		    (rc = get_bin(&e->via.array.ptr[4], ctx, "sig", SIG_BYTES, x->sig)))
			return decode_end(w, m, sizeof *m, rc);
	}
	if ((rc = get_authors(authors, ctx, m->authors)) != VELD_OK)
		return decode_end(w, m, sizeof *m, rc);
	return decode_end(w, m, sizeof *m, VELD_OK);
}

/* ---- errors and {"v":1} ----------------------------------------------------- */

static const char *const error_keys[] = {"v", "error", "message", "expected"};

int veld__wire_error_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                            struct veld__error_resp *m)
{
	static const char ctx[] = "error response";
	const msgpack_object *val[4];
	int rc;
	memset(m, 0, sizeof *m);
	if ((rc = decode_begin(w, body, len, ctx, FLAT_DEPTH, FLAT_VALUES, error_keys, 4, 1u << 3,
	                       val)) ||
	    (rc = get_str(val[1], ctx, "error", ERROR_MAX, S_TEXT, m->error)) ||
	    (rc = get_str(val[2], ctx, "message", MESSAGE_MAX, S_TEXT, m->message)))
		return decode_end(w, m, sizeof *m, rc);
	if (strcmp(m->error, "gap") == 0) {
		if (!val[3])
			rc = veld__err(VELD_EPROTO, "%s: missing 'expected'", ctx);
		else
			rc = get_uint(val[3], ctx, "expected", 0, &m->expected);
	} else if (val[3]) {
		rc = bad(ctx, "expected", "is only allowed with error gap");
	}
	return decode_end(w, m, sizeof *m, rc);
}

static const char *const ok_keys[] = {"v"};

int veld__wire_ok_decode(struct veld__wire *w, const uint8_t *body, size_t len)
{
	const msgpack_object *val[1];
	int dummy = 0;
	int rc = decode_begin(w, body, len, "response", FLAT_DEPTH, FLAT_VALUES, ok_keys, 1, 0, val);
	return decode_end(w, &dummy, sizeof dummy, rc);
}

/* ---- encoders ------------------------------------------------------------- */

/* A packer over an sbuffer that remembers a failed write, so the packing
 * code reads straight and the result is checked once, at the end. */
struct writer {
	msgpack_packer pk;
	msgpack_sbuffer *sb;
	size_t start;
	int failed;
};

static int writer_cb(void *data, const char *buf, size_t len)
{
	struct writer *wr = data;
	if (wr->failed || msgpack_sbuffer_write(wr->sb, buf, len) != 0) {
		wr->failed = 1;
		return -1;
	}
	return 0;
}

static msgpack_packer *writer_begin(struct writer *wr, msgpack_sbuffer *out, uint32_t nkeys)
{
	wr->sb = out;
	wr->start = out->size;
	wr->failed = 0;
	msgpack_packer_init(&wr->pk, wr, writer_cb);
	msgpack_pack_map(&wr->pk, nkeys);
	msgpack_pack_str_with_body(&wr->pk, "v", 1);
	msgpack_pack_uint64(&wr->pk, VELD_WIRE_VERSION);
	return &wr->pk;
}

static int writer_end(struct writer *wr)
{
	if (!wr->failed)
		return VELD_OK;
	wr->sb->size = wr->start; /* nothing half-written stays behind */
	return veld__err(VELD_ENOMEM, "out of memory");
}

static void put_key(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void put_str(msgpack_packer *pk, const char *key, const char *s)
{
	put_key(pk, key);
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void put_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
	put_key(pk, key);
	msgpack_pack_uint64(pk, v);
}

static void put_bin(msgpack_packer *pk, const char *key, const void *p, size_t n)
{
	put_key(pk, key);
	msgpack_pack_bin_with_body(pk, p, n);
}

static void put_bin_or_nil(msgpack_packer *pk, const char *key, int present, const void *p,
                           size_t n)
{
	if (present) {
		put_bin(pk, key, p, n);
	} else {
		put_key(pk, key);
		msgpack_pack_nil(pk);
	}
}

/* Validation before encoding: the decoder's rules on the struct's values. */
static int enc_str(const char *ctx, const char *key, const char *s, size_t cap, size_t max,
                   enum str_rule rule);

static int check_policy(const char *ctx, const struct veld__field_policy *p)
{
	int rc;
	if ((rc = enc_str(ctx, "team", p->team, sizeof p->team, VELD_TEAM_MAX, S_TEAM)) != VELD_OK)
		return rc;
	if (p->at < 1 || (p->mask & ~VELD_POLICY_ALL))
		return veld__err(VELD_EINVAL, "%s: needs at >= 1 and only governed fields", ctx);
	return VELD_OK;
}

/* team, at, fields (canonical order), sig: the caller wrote the map header. */
static void pack_policy(msgpack_packer *pk, const struct veld__field_policy *p)
{
	int n = 0;
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++)
		n += (p->mask >> i) & 1;
	put_str(pk, "team", p->team);
	put_uint(pk, "at", p->at);
	put_key(pk, "fields");
	msgpack_pack_array(pk, (size_t)n);
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++)
		if (p->mask & (1u << i))
			put_key(pk, veld__policy_fields[i]);
	put_bin(pk, "sig", p->sig, SIG_BYTES);
}

static int enc_str(const char *ctx, const char *key, const char *s, size_t cap, size_t max,
                   enum str_rule rule)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return veld__err(VELD_EINVAL, "%s: '%s' is not NUL-terminated", ctx, key);
	return check_str(VELD_EINVAL, ctx, key, s, n, max, rule);
}

static int enc_count(const char *ctx, const char *key, size_t n, size_t max, const void *p)
{
	if (n > max)
		return veld__err(VELD_EINVAL, "%s: '%s' has more than %zu entries", ctx, key, max);
	if (n && !p)
		return veld__err(VELD_EINVAL, "%s: '%s' is NULL", ctx, key);
	return VELD_OK;
}

static int enc_min(const char *ctx, const char *key, uint64_t v, uint64_t min)
{
	if (v < min)
		return veld__err(VELD_EINVAL, "%s: '%s' must be at least %llu", ctx, key,
		                 (unsigned long long)min);
	return VELD_OK;
}

static int check_op(const char *ctx, const veld__op *op)
{
	int rc;
	if ((rc = enc_min(ctx, "seq", op->seq, 1)) || (rc = enc_min(ctx, "kv", op->kv, 1)) ||
	    (rc = enc_str(ctx, "kind", op->kind, sizeof op->kind, VELD_KIND_MAX, S_KIND)) ||
	    (rc = enc_str(ctx, "team", op->team, sizeof op->team, VELD_TEAM_MAX, S_TEAM)) ||
	    (rc = enc_str(ctx, "field", op->field, sizeof op->field, VELD_FIELD_MAX, S_TEXT)) ||
	    (rc = enc_count(ctx, "supersedes", op->nsup, VELD_OP_MAX_SUPERSEDES, op->sup)))
		return rc;
	if (op->value && op->value_len > MAX_VALUE_BYTES)
		return veld__err(VELD_EINVAL, "%s: 'value' is larger than %d bytes", ctx,
		                 MAX_VALUE_BYTES);
	return VELD_OK;
}

static int check_envelope(const char *ctx, const struct veld__envelope *e)
{
	int rc;
	if ((rc = enc_min(ctx, "kv", e->kv, 1)) ||
	    (rc = enc_str(ctx, "to", e->to, sizeof e->to, TO_MAX, S_TO)))
		return rc;
	return VELD_OK;
}

static void pack_envelope(msgpack_packer *pk, const struct veld__envelope *e)
{
	msgpack_pack_map(pk, 5);
	put_bin(pk, "client", e->client, VELD_ID_BYTES);
	put_uint(pk, "kv", e->kv);
	put_str(pk, "to", e->to);
	put_uint(pk, "tv", e->tv);
	put_bin(pk, "sealed", e->sealed, VELD_SEALED_KEY_BYTES);
}

int veld__wire_push_req_encode(msgpack_sbuffer *out, const struct veld__push_req *m)
{
	static const char ctx[] = "push";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_count(ctx, "ops", m->nops, VELD_WIRE_MAX_OPS, m->ops)) ||
	    (rc = enc_count(ctx, "envelopes", m->nenvs, VELD_WIRE_MAX_ENVS, m->envs)))
		return rc;
	if (!m->has_sig != !m->nops)
		return veld__err(VELD_EINVAL, "%s: 'sig' must be nil exactly when 'ops' is empty", ctx);
	for (size_t i = 0; i < m->nops; i++)
		if ((rc = check_op("push operation", &m->ops[i])) != VELD_OK)
			return rc;
	for (size_t i = 0; i < m->nenvs; i++)
		if ((rc = check_envelope("push envelope", &m->envs[i])) != VELD_OK)
			return rc;

	pk = writer_begin(&wr, out, 4);
	put_key(pk, "ops");
	msgpack_pack_array(pk, m->nops);
	for (size_t i = 0; i < m->nops; i++)
		veld__wire_pack_op(pk, &m->ops[i]);
	put_bin_or_nil(pk, "sig", m->has_sig, m->sig, SIG_BYTES);
	put_key(pk, "envelopes");
	msgpack_pack_array(pk, m->nenvs);
	for (size_t i = 0; i < m->nenvs; i++)
		pack_envelope(pk, &m->envs[i]);
	return writer_end(&wr);
}

int veld__wire_push_resp_encode(msgpack_sbuffer *out, const struct veld__push_resp *m)
{
	struct writer wr;
	msgpack_packer *pk = writer_begin(&wr, out, 3);
	put_uint(pk, "acked", m->acked);
	put_uint(pk, "stored", m->stored);
	return writer_end(&wr);
}

int veld__wire_pull_resp_encode(msgpack_sbuffer *out, const struct veld__pull_resp *m)
{
	static const char ctx[] = "pull";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_count(ctx, "ops", m->nops, VELD_WIRE_MAX_PAGE, m->ops)) ||
	    (rc = enc_count(ctx, "ops", m->nops, VELD_WIRE_MAX_PAGE, m->cursors)) ||
	    (rc = enc_count(ctx, "batches", m->nbatches, VELD_WIRE_MAX_PAGE, m->batches)) ||
	    (rc = enc_count(ctx, "authors", m->nauthors, VELD_WIRE_MAX_PAGE, m->authors)) ||
	    (rc = enc_count(ctx, "envelopes", m->nenvs, VELD_WIRE_MAX_ENVS, m->envs)) ||
	    (rc = enc_count(ctx, "envelopes", m->nenvs, VELD_WIRE_MAX_ENVS, m->env_cursors)) ||
	    (rc = enc_count(ctx, "team_keys", m->nteam_keys, MAX_TEAM_KEYS, m->team_keys)) ||
	    (rc = enc_count(ctx, "erased", m->nerased, VELD_WIRE_MAX_ERASED, m->erased)))
		return rc;
	for (size_t i = 0; i < m->nops; i++)
		if ((rc = check_op("pull operation", &m->ops[i])) != VELD_OK)
			return rc;
	for (size_t i = 0; i < m->nbatches; i++) {
		const struct veld__batch *b = &m->batches[i];
		if (b->last < b->first || b->last - b->first >= MAX_BATCH_OPS || !b->hashes)
			return veld__err(VELD_EINVAL,
			                 "pull batch: needs first <= last, at most %d operations, and hashes",
			                 MAX_BATCH_OPS);
	}
	for (size_t i = 0; i < m->nenvs; i++)
		if ((rc = check_envelope("pull envelope", &m->envs[i])) != VELD_OK)
			return rc;
	for (size_t i = 0; i < m->nteam_keys; i++)
		if ((rc = enc_str("pull team key", "team", m->team_keys[i].team,
		                  sizeof m->team_keys[i].team, VELD_TEAM_MAX, S_TEAM)) != VELD_OK)
			return rc;

	if (m->has_policy && (rc = check_policy("pull policy", &m->policy)) != VELD_OK)
		return rc;
	pk = writer_begin(&wr, out, m->has_policy ? 12 : 11);
	put_key(pk, "ops");
	msgpack_pack_array(pk, m->nops);
	for (size_t i = 0; i < m->nops; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint64(pk, m->cursors[i]);
		veld__wire_pack_op(pk, &m->ops[i]);
	}
	put_key(pk, "batches");
	msgpack_pack_array(pk, m->nbatches);
	for (size_t i = 0; i < m->nbatches; i++) {
		const struct veld__batch *b = &m->batches[i];
		msgpack_pack_map(pk, 5);
		put_bin(pk, "device", b->device, VELD_ID_BYTES);
		put_uint(pk, "first", b->first);
		put_uint(pk, "last", b->last);
		put_bin(pk, "sig", b->sig, SIG_BYTES);
		put_bin(pk, "hashes", b->hashes, (size_t)(b->last - b->first + 1) * HASH_BYTES);
	}
	put_key(pk, "authors");
	msgpack_pack_array(pk, m->nauthors);
	for (size_t i = 0; i < m->nauthors; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_bin_with_body(pk, m->authors[i].device, VELD_ID_BYTES);
		msgpack_pack_bin_with_body(pk, m->authors[i].sign_pk, PK_BYTES);
	}
	put_key(pk, "envelopes");
	msgpack_pack_array(pk, m->nenvs);
	for (size_t i = 0; i < m->nenvs; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint64(pk, m->env_cursors[i]);
		pack_envelope(pk, &m->envs[i]);
	}
	put_key(pk, "team_keys");
	msgpack_pack_array(pk, m->nteam_keys);
	for (size_t i = 0; i < m->nteam_keys; i++) {
		const struct veld__team_key *t = &m->team_keys[i];
		msgpack_pack_map(pk, 4);
		put_str(pk, "team", t->team);
		put_uint(pk, "tv", t->tv);
		put_bin(pk, "pk", t->pk, PK_BYTES);
		put_bin(pk, "sealed", t->sealed, VELD_SEALED_KEY_BYTES);
	}
	put_key(pk, "erased");
	msgpack_pack_array(pk, m->nerased);
	for (size_t i = 0; i < m->nerased; i++) {
		const struct veld__erasure *x = &m->erased[i];
		msgpack_pack_array(pk, 4);
		msgpack_pack_uint64(pk, x->cursor);
		msgpack_pack_bin_with_body(pk, x->client, VELD_ID_BYTES);
		msgpack_pack_uint64(pk, x->at);
		msgpack_pack_bin_with_body(pk, x->sig, SIG_BYTES);
	}
	put_uint(pk, "next", m->next);
	put_uint(pk, "env_next", m->env_next);
	put_uint(pk, "erase_next", m->erase_next);
	put_key(pk, "more");
	if (m->more)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	if (m->has_policy) {
		put_key(pk, "policy");
		msgpack_pack_map(pk, 4);
		pack_policy(pk, &m->policy);
	}
	return writer_end(&wr);
}

int veld__wire_enroll_req_encode(msgpack_sbuffer *out, const struct veld__enroll_req *m)
{
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_str("enroll", "label", m->label, sizeof m->label, LABEL_MAX, S_TEXT)) != VELD_OK)
		return rc;
	pk = writer_begin(&wr, out, 6);
	put_bin(pk, "auth", m->auth, 32);
	put_bin(pk, "device", m->device, VELD_ID_BYTES);
	put_bin(pk, "sign_pk", m->sign_pk, PK_BYTES);
	put_bin(pk, "box_pk", m->box_pk, PK_BYTES);
	put_str(pk, "label", m->label);
	return writer_end(&wr);
}

int veld__wire_enroll_resp_encode(msgpack_sbuffer *out, const struct veld__enroll_resp *m)
{
	static const char ctx[] = "enroll response";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_str(ctx, "role", m->role, sizeof m->role, ROLE_MAX, S_ROLE)) ||
	    (rc = enc_str(ctx, "team", m->team, sizeof m->team, VELD_TEAM_MAX, S_TEAM_OR_STAR)))
		return rc;
	pk = writer_begin(&wr, out, 9);
	put_str(pk, "role", m->role);
	put_str(pk, "team", m->team);
	put_uint(pk, "tv", m->tv);
	put_bin_or_nil(pk, "team_pk", m->has_team_key, m->team_pk, PK_BYTES);
	put_bin_or_nil(pk, "team_sealed", m->has_team_key, m->team_sealed, VELD_TEAM_SEALED_BYTES);
	put_bin_or_nil(pk, "office_device", m->has_office, m->office_device, VELD_ID_BYTES);
	put_bin_or_nil(pk, "office_sign_pk", m->has_office, m->office_sign_pk, PK_BYTES);
	put_bin_or_nil(pk, "office_box_pk", m->has_office, m->office_box_pk, PK_BYTES);
	return writer_end(&wr);
}

int veld__wire_invite_req_encode(msgpack_sbuffer *out, const struct veld__invite_req *m)
{
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_str("invite", "team", m->team, sizeof m->team, VELD_TEAM_MAX, S_TEAM)) != VELD_OK)
		return rc;
	pk = writer_begin(&wr, out, 6);
	put_bin(pk, "auth", m->auth, 32);
	put_str(pk, "team", m->team);
	put_uint(pk, "expires", m->expires);
	put_uint(pk, "tv", m->tv);
	put_bin(pk, "team_sealed", m->team_sealed, VELD_TEAM_SEALED_BYTES);
	return writer_end(&wr);
}

int veld__wire_team_keys_req_encode(msgpack_sbuffer *out, const struct veld__team_keys_req *m)
{
	static const char ctx[] = "team-keys";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_str(ctx, "team", m->team, sizeof m->team, VELD_TEAM_MAX, S_TEAM)) ||
	    (rc = enc_count(ctx, "sealed", m->nsealed, VELD_WIRE_MAX_DEVICES, m->sealed)))
		return rc;
	pk = writer_begin(&wr, out, 5);
	put_str(pk, "team", m->team);
	put_uint(pk, "tv", m->tv);
	put_bin(pk, "pk", m->pk, PK_BYTES);
	put_key(pk, "sealed");
	msgpack_pack_array(pk, m->nsealed);
	for (size_t i = 0; i < m->nsealed; i++) {
		msgpack_pack_map(pk, 2);
		put_bin(pk, "device", m->sealed[i].device, VELD_ID_BYTES);
		put_bin(pk, "sealed", m->sealed[i].sealed, VELD_SEALED_KEY_BYTES);
	}
	return writer_end(&wr);
}

int veld__wire_revoke_req_encode(msgpack_sbuffer *out, const struct veld__revoke_req *m)
{
	struct writer wr;
	msgpack_packer *pk = writer_begin(&wr, out, 2);
	put_bin(pk, "device", m->device, VELD_ID_BYTES);
	return writer_end(&wr);
}

int veld__wire_policy_req_encode(msgpack_sbuffer *out, const struct veld__field_policy *m)
{
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = check_policy("policy", m)) != VELD_OK)
		return rc;
	pk = writer_begin(&wr, out, 5);
	pack_policy(pk, m);
	return writer_end(&wr);
}

int veld__wire_erase_req_encode(msgpack_sbuffer *out, const struct veld__erase_req *m)
{
	struct writer wr;
	msgpack_packer *pk = writer_begin(&wr, out, 4);
	put_bin(pk, "client", m->client, VELD_ID_BYTES);
	put_uint(pk, "at", m->at);
	put_bin(pk, "sig", m->sig, SIG_BYTES);
	return writer_end(&wr);
}

int veld__wire_revoke_resp_encode(msgpack_sbuffer *out, const struct veld__revoke_resp *m)
{
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_str("revoke response", "team", m->team, sizeof m->team, VELD_TEAM_MAX,
	                  S_TEAM_OR_STAR)) != VELD_OK)
		return rc;
	pk = writer_begin(&wr, out, 2);
	put_str(pk, "team", m->team);
	return writer_end(&wr);
}

int veld__wire_devices_resp_encode(msgpack_sbuffer *out, const struct veld__devices_resp *m)
{
	static const char ctx[] = "devices entry";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = enc_count("devices", "devices", m->ndevices, VELD_WIRE_MAX_DEVICES, m->devices)))
		return rc;
	for (size_t i = 0; i < m->ndevices; i++) {
		const struct veld__device_info *d = &m->devices[i];
		if ((rc = enc_str(ctx, "team", d->team, sizeof d->team, VELD_TEAM_MAX, S_TEAM_OR_STAR)) ||
		    (rc = enc_str(ctx, "role", d->role, sizeof d->role, ROLE_MAX, S_ROLE)) ||
		    (rc = enc_str(ctx, "label", d->label, sizeof d->label, LABEL_MAX, S_TEXT)))
			return rc;
	}
	pk = writer_begin(&wr, out, 2);
	put_key(pk, "devices");
	msgpack_pack_array(pk, m->ndevices);
	for (size_t i = 0; i < m->ndevices; i++) {
		const struct veld__device_info *d = &m->devices[i];
		msgpack_pack_map(pk, 8);
		put_bin(pk, "device", d->device, VELD_ID_BYTES);
		put_str(pk, "team", d->team);
		put_str(pk, "role", d->role);
		put_str(pk, "label", d->label);
		put_bin(pk, "sign_pk", d->sign_pk, PK_BYTES);
		put_bin(pk, "box_pk", d->box_pk, PK_BYTES);
		put_uint(pk, "enrolled", d->enrolled);
		if (d->revoked) {
			put_uint(pk, "revoked", d->revoked);
		} else {
			put_key(pk, "revoked");
			msgpack_pack_nil(pk);
		}
	}
	return writer_end(&wr);
}

int veld__wire_error_encode(msgpack_sbuffer *out, const struct veld__error_resp *m)
{
	static const char ctx[] = "error response";
	struct writer wr;
	msgpack_packer *pk;
	int gap, rc;
	if ((rc = enc_str(ctx, "error", m->error, sizeof m->error, ERROR_MAX, S_TEXT)) ||
	    (rc = enc_str(ctx, "message", m->message, sizeof m->message, MESSAGE_MAX, S_TEXT)))
		return rc;
	gap = strcmp(m->error, "gap") == 0;
	pk = writer_begin(&wr, out, gap ? 4 : 3);
	put_str(pk, "error", m->error);
	put_str(pk, "message", m->message);
	if (gap)
		put_uint(pk, "expected", m->expected);
	return writer_end(&wr);
}

int veld__wire_ok_encode(msgpack_sbuffer *out)
{
	struct writer wr;
	writer_begin(&wr, out, 1);
	return writer_end(&wr);
}

static int check_audit_entries(const char *ctx, const struct veld__audit_entry *e, size_t n,
                               size_t max, int per_device)
{
	int rc;
	if ((rc = enc_count(ctx, "entries", n, max, e)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (!e[i].sealed || e[i].sealed_len == 0 || e[i].sealed_len > VELD_AUDIT_SEALED_MAX)
			return veld__err(VELD_EINVAL, "%s: 'sealed' must be 1 to %d bytes", ctx,
			                 VELD_AUDIT_SEALED_MAX);
	return check_audit_seqs(VELD_EINVAL, ctx, e, n, per_device);
}

int veld__wire_audit_push_req_encode(msgpack_sbuffer *out, const struct veld__audit_push_req *m)
{
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = check_audit_entries("audit push", m->entries, m->n, VELD_WIRE_MAX_AUDIT, 0)))
		return rc;
	pk = writer_begin(&wr, out, 2);
	put_key(pk, "entries");
	msgpack_pack_array(pk, m->n);
	for (size_t i = 0; i < m->n; i++) {
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint64(pk, m->entries[i].seq);
		msgpack_pack_bin_with_body(pk, m->entries[i].sealed, m->entries[i].sealed_len);
		msgpack_pack_bin_with_body(pk, m->entries[i].sig, SIG_BYTES);
	}
	return writer_end(&wr);
}

int veld__wire_audit_pull_resp_encode(msgpack_sbuffer *out,
                                      const struct veld__audit_pull_resp *m)
{
	static const char ctx[] = "audit pull";
	struct writer wr;
	msgpack_packer *pk;
	int rc;
	if ((rc = check_audit_entries(ctx, m->entries, m->n, VELD_WIRE_MAX_PAGE, 1)) ||
	    (rc = enc_count(ctx, "authors", m->nauthors, VELD_WIRE_MAX_PAGE, m->authors)))
		return rc;
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].cursor < 1)
			return veld__err(VELD_EINVAL, "%s: 'cursor' must be at least 1", ctx);
	pk = writer_begin(&wr, out, 5);
	put_key(pk, "entries");
	msgpack_pack_array(pk, m->n);
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		msgpack_pack_array(pk, 5);
		msgpack_pack_uint64(pk, e->cursor);
		msgpack_pack_bin_with_body(pk, e->device, VELD_ID_BYTES);
		msgpack_pack_uint64(pk, e->seq);
		msgpack_pack_bin_with_body(pk, e->sealed, e->sealed_len);
		msgpack_pack_bin_with_body(pk, e->sig, SIG_BYTES);
	}
	put_key(pk, "authors");
	msgpack_pack_array(pk, m->nauthors);
	for (size_t i = 0; i < m->nauthors; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_bin_with_body(pk, m->authors[i].device, VELD_ID_BYTES);
		msgpack_pack_bin_with_body(pk, m->authors[i].sign_pk, PK_BYTES);
	}
	put_uint(pk, "next", m->next);
	put_key(pk, "more");
	if (m->more)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	return writer_end(&wr);
}
