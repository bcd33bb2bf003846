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
 *  3. The message's fields are read from its table (the end of this file):
 *     every key, type, size, count and string rule is checked and what is
 *     kept is copied into the message struct.
 *
 * Every message is a table of fields, one line of it a field: its key (the
 * struct member of the same name), its type, its limit. One decoder, one
 * validator and one packer walk the tables, so a message's encoder and
 * decoder cannot disagree about its keys, their order or their rules, and
 * a new message is a table, not two more functions. The few rules across
 * fields (a signature exactly when there are operations, consecutive
 * access-log entries, the nils of an enroll answer, "expected" with a gap)
 * are written out next to their message.
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
#include "kinds.h"
#include "policy.h"
#include "veld.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SIG_BYTES 64
#define PK_BYTES 32
#define HASH_BYTES 32
/* The protocol's limit on a sealed value (docs/protocol.md section 1): the
 * one bound writer, reader and wire share (core/src/op.h). */
#define MAX_VALUE_BYTES VELD_SEALED_VALUE_MAX
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
#define ENV_VALUES (1 + 2 * 7)
#define STUB_VALUES (1 + 2 * 5)
#define HELD_VALUES (1 + 2 * 7)
#define NOTICE_VALUES (1 + 2 * 6)
#define CHECKPOINT_VALUES (1 + 2 * 5)
#define FLAT_VALUES (1 + 2 * MAX_MAP_KEYS)
#define PUSH_VALUES (1 + 2 * 4 + VELD_WIRE_MAX_OPS * OP_VALUES + VELD_WIRE_MAX_ENVS * ENV_VALUES)
/* A page's operations, stubs and held stubs together are at most `limit`
 * (VELD_WIRE_MAX_PAGE), each with its batch at most. */
#define PULL_VALUES                                                                        \
	(1 + 2 * 13 + VELD_WIRE_MAX_PAGE * (2 + OP_VALUES) + VELD_WIRE_MAX_PAGE * (1 + 2 * 6) + \
	 VELD_WIRE_MAX_ENVS * (2 + ENV_VALUES) + MAX_TEAM_KEYS * (1 + 2 * 5) +                   \
	 VELD_WIRE_MAX_NOTICES * (2 + NOTICE_VALUES) + CHECKPOINT_VALUES)
#define NOTICE_REQ_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_NOTICES * NOTICE_VALUES)
#define CHECKPOINT_REQ_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_NOTICES * CHECKPOINT_VALUES)
#define AUDIT_PUSH_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_AUDIT * 4)
#define AUDIT_PULL_VALUES (1 + 2 * 4 + VELD_WIRE_MAX_PAGE * 6)
#define TEAM_KEYS_VALUES (1 + 2 * 6 + VELD_WIRE_MAX_DEVICES * (1 + 2 * 2))
#define DEVICES_VALUES (1 + 2 * 2 + VELD_WIRE_MAX_DEVICES * (1 + 2 * 10))
/* Nesting of each message: the body's map is depth 1. */
#define PUSH_DEPTH 5 /* map, ops, op, supersedes, reference */
#define PULL_DEPTH 6 /* map, ops, [cursor, op], op, supersedes, reference */
#define LIST_DEPTH 3 /* map, array, map (or entry array) */
#define FLAT_DEPTH 1

static const char *const roles[] = {"worker", "office"};

/* ---- string rules, shared by decoders (VELD_EPROTO) and encoders (VELD_EINVAL) */

enum str_rule { S_TEXT, S_TEAM, S_TEAM_OR_STAR, S_KIND, S_ROLE, S_TO };

/* The protocol's team names: 1 to 64 bytes of [A-Za-z0-9._@-]. */
static int team_valid(const char *s, size_t n)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-";
	if (n < 1 || n > VELD_TEAM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || !strchr(allowed, s[i]))
			return 0;
	return 1;
}

int veld__team_valid(const char *team)
{
	return team_valid(team, strlen(team));
}

static int one_of(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0)
			return 1;
	return 0;
}

/* A kind's name of n bytes at s (not NUL-terminated). */
static int kind_name_ok(const char *s, size_t n)
{
	char name[VELD_KIND_MAX + 1];
	if (n > VELD_KIND_MAX || memchr(s, 0, n))
		return 0;
	memcpy(name, s, n);
	name[n] = 0;
	return veld__kind_name_ok(name);
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
		/* Any well-formed kind: the office's record schema may add kinds
		 * (core/src/kinds.h); a device checks them against it. */
		if (!kind_name_ok(s, n))
			return veld__err(code, "%s: '%s' must be 1 to 16 of a-z, 0-9, _ (a letter first)",
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
	if (version < 1 || version > VELD_OP_VERSION)
		return veld__err(VELD_EPROTO, "%s: 'version' must be 1 to %d", ctx, VELD_OP_VERSION);
	op->version = (uint32_t)version;
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

/* [uint cursor, x]: *x gets the second element. */
static int get_pair(const msgpack_object *o, const char *ctx, const char *key, uint64_t *cursor,
                    const msgpack_object **x)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
		return bad(ctx, key, "entries must be [cursor, value]");
	*x = &o->via.array.ptr[1];
	return get_uint(&o->via.array.ptr[0], ctx, "cursor", 0, cursor);
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

/* ---- messages as tables of fields ---------------------------------------- */

/* What a field holds on the wire and in its struct. */
enum ftype {
	T_UINT,     /* uint64_t, at least `lim` */
	T_UINT_NIL, /* uint64_t: nil for 0 (none), else at least `lim` */
	T_BOOL,     /* int: true or false */
	T_BIN,      /* uint8_t[lim] */
	T_BIN_NIL,  /* uint8_t[lim] or nil: the int at `aux` says which */
	T_STR,      /* char[aux]: at most `lim` bytes under `rule`, NUL-terminated */
	T_BLOB,     /* a bin of 1 (0 with rule 1) to `lim` bytes: const uint8_t * into
	             * the body, its size_t length at `aux` */
	T_HASHES,   /* a batch's hashes (struct veld__batch only): a pointer into the
	             * body, 32 bytes for each of first..last */
	T_RECORD,   /* one record of shape `of`, or nil: the int at `aux` says which */
	T_LIST,     /* records of shape `of`: a pointer, its size_t count at `aux` */
	T_PAIRS,    /* the same as [cursor, record] pairs, the cursors' uint64_t * at `cur` */
	T_OPS,      /* operations (veld__op *), their count at `aux` */
	T_OP_PAIRS  /* the same as [cursor, operation] pairs, cursors at `cur` */
};

struct shape;

/* One field: its key, its type, where it lives in the struct. The macros
 * below take the key from the member's name, so a member is named as its
 * key; `ctx` names a list's entries in errors (NULL: the message's own). */
struct field {
	const char *key;
	unsigned char type, rule;
	uint64_t lim; /* least value; bytes; longest string; most entries */
	size_t off, aux, cur;
	const struct shape *of;
	const char *ctx;
};

/* A record: a map of its fields (or, `array`, the array of their values
 * in order). `check`, if set, is the encoder's rule for the whole record
 * instead of the fields' own. */
struct shape {
	int array;
	size_t size;
	const struct field *f;
	size_t n;
	int (*check)(const char *ctx, const void *m);
};

/* A message: the body's map after "v". `rule` is a rule across fields,
 * checked after them by decoders (VELD_EPROTO) and encoders (VELD_EINVAL). */
struct message {
	const char *ctx;
	int depth;
	size_t values;
	struct shape shape;
	uint32_t optional; /* bit i: field i may be missing */
	int (*rule)(int code, const char *ctx, const void *m);
};

/* A table's lines, with MSG defined as the struct the table describes. */
#define AT(f) .off = offsetof(MSG, f)
#define UINT(f, min) {#f, T_UINT, 0, (min), AT(f)}
#define UINT_NIL(f, min) {#f, T_UINT_NIL, 0, (min), AT(f)}
#define BOOL(f) {#f, T_BOOL, 0, 0, AT(f)}
#define BIN(f, n) {#f, T_BIN, 0, (n), AT(f)}
#define BIN_NIL(f, n, has) {#f, T_BIN_NIL, 0, (n), AT(f), .aux = offsetof(MSG, has)}
#define STR(f, max, r) {#f, T_STR, (r), (max), AT(f), .aux = sizeof((MSG *)0)->f}
#define BLOB(f, len, max) {#f, T_BLOB, 0, (max), AT(f), .aux = offsetof(MSG, len)}
#define BLOB0(f, len, max) {#f, T_BLOB, 1, (max), AT(f), .aux = offsetof(MSG, len)}
#define RECORD(k, f, has, sh, c)                                                              \
	{k, T_RECORD, 0, 0, AT(f), .aux = offsetof(MSG, has), .of = &(sh), .ctx = (c)}
#define LIST(k, f, n, max, sh, c)                                                             \
	{k, T_LIST, 0, (max), AT(f), .aux = offsetof(MSG, n), .of = &(sh), .ctx = (c)}
#define PAIRS(k, f, n, cursors, max, sh, c)                                                   \
	{k, T_PAIRS, 0, (max), AT(f), .aux = offsetof(MSG, n), .cur = offsetof(MSG, cursors),   \
	 .of = &(sh), .ctx = (c)}
/* The same, left out of an encoded message when empty (an optional key). */
#define PAIRS0(k, f, n, cursors, max, sh, c)                                                  \
	{k, T_PAIRS, 1, (max), AT(f), .aux = offsetof(MSG, n), .cur = offsetof(MSG, cursors),   \
	 .of = &(sh), .ctx = (c)}
#define OPS(f, n, max, c) {#f, T_OPS, 0, (max), AT(f), .aux = offsetof(MSG, n), .ctx = (c)}
#define OP_PAIRS(f, n, cursors, max, c)                                                       \
	{#f, T_OP_PAIRS, 0, (max), AT(f), .aux = offsetof(MSG, n), .cur = offsetof(MSG, cursors),\
	 .ctx = (c)}
#define SHAPE(array, fields, T, check)                                                        \
	{(array), sizeof(T), (fields), sizeof(fields) / sizeof(fields)[0], (check)}

/* The member at byte `off` of the struct at m, as a T (CM: read only). */
#define M(m, off, T) ((T *)(void *)((unsigned char *)(m) + (off)))
#define CM(m, off, T) ((const T *)(const void *)((const unsigned char *)(m) + (off)))

static int is_list(const struct field *f)
{
	return f->type >= T_LIST;
}

/* ---- decoding a table's fields ----------------------------------------------- */

/* Index a map's values by the keys of `f` ("v" first when `v`): val[i]
 * gets the value of key i, or NULL. Refuses non-string, unknown and
 * repeated keys, and missing keys unless their bit is set in `optional`
 * (bit i = f[i]). */
static int map_index(const msgpack_object *o, const char *ctx, const struct field *f, size_t n,
                     int v, uint32_t optional, const msgpack_object **val)
{
	size_t nkeys = n + (v ? 1 : 0);
#define KEY(i) (v ? ((i) ? f[(i) - 1].key : "v") : f[i].key)
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
			if (strlen(KEY(i)) == k->via.str.size &&
			    memcmp(KEY(i), k->via.str.ptr, k->via.str.size) == 0)
				break;
		if (i == nkeys)
			return veld__err(VELD_EPROTO, "%s: unknown key", ctx);
		if (val[i])
			return veld__err(VELD_EPROTO, "%s: '%s' appears twice", ctx, KEY(i));
		val[i] = &o->via.map.ptr[e].val;
	}
	for (size_t i = 0; i < nkeys; i++) {
		int may_miss = i >= (v ? 1u : 0u) && ((optional >> (i - (v ? 1 : 0))) & 1u);
		if (!val[i] && !may_miss)
			return veld__err(VELD_EPROTO, "%s: missing '%s'", ctx, KEY(i));
	}
#undef KEY
	return VELD_OK;
}

static int get_blob(const msgpack_object *o, const char *ctx, const struct field *f,
                    const uint8_t **p, size_t *n)
{
	static const uint8_t empty[1];
	if (o->type != MSGPACK_OBJECT_BIN || (o->via.bin.size == 0 && !f->rule) ||
	    o->via.bin.size > f->lim)
		return veld__err(VELD_EPROTO, "%s: '%s' must be a bin of %d to %llu bytes", ctx, f->key,
		                 f->rule ? 0 : 1, (unsigned long long)f->lim);
	/* into the body (an empty bin may have no pointer) */
	*p = o->via.bin.size ? (const uint8_t *)o->via.bin.ptr : empty;
	*n = o->via.bin.size;
	return VELD_OK;
}

/* A batch's hashes: 32 bytes for each of first..last, a batch being one
 * push. */
static int get_hashes(const msgpack_object *o, const char *ctx, struct veld__batch *b)
{
	if (b->last < b->first)
		return bad(ctx, "last", "is below 'first'");
	if (b->last - b->first >= MAX_BATCH_OPS)
		return veld__err(VELD_EPROTO, "%s: a batch spans more than %d operations", ctx,
		                 MAX_BATCH_OPS);
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != HASH_BYTES * (b->last - b->first + 1))
		return bad(ctx, "hashes", "must be a bin of 32 x (last - first + 1) bytes");
	b->hashes = (const uint8_t *)o->via.bin.ptr; /* into the body */
	return VELD_OK;
}

static int get_record(const msgpack_object *o, const char *ctx, const char *list,
                      const struct shape *sh, void *m);

/* One field's value (not a list) into the struct. */
static int get_value(const msgpack_object *o, const char *ctx, const struct field *f, void *m)
{
	void *p = M(m, f->off, void);
	int has = 0, rc;
	switch (f->type) {
	case T_UINT_NIL:
		if (o->type == MSGPACK_OBJECT_NIL)
			return VELD_OK;
		/* fall through */
	case T_UINT: return get_uint(o, ctx, f->key, f->lim, p);
	case T_BOOL: return get_bool(o, ctx, f->key, p);
	case T_BIN: return get_bin(o, ctx, f->key, f->lim, p);
	case T_STR: return get_str(o, ctx, f->key, f->lim, f->rule, p);
	case T_BLOB: return get_blob(o, ctx, f, p, M(m, f->aux, size_t));
	case T_HASHES: return get_hashes(o, ctx, m);
	case T_BIN_NIL:
		rc = get_bin_or_nil(o, ctx, f->key, f->lim, p, &has);
		break;
	case T_RECORD:
		has = o->type != MSGPACK_OBJECT_NIL;
		rc = has ? get_record(o, f->ctx, NULL, f->of, p) : VELD_OK;
		break;
	default:
		return veld__err(VELD_EPROTO, "%s: '%s' has an unknown type", ctx, f->key);
	}
	*M(m, f->aux, int) = has;
	return rc;
}

/* A record of a list or a field: a map of its fields, or the array of
 * their values in order ("entries must be [a, b]" names them, `list` being
 * the list's key). */
static int get_record(const msgpack_object *o, const char *ctx, const char *list,
                      const struct shape *sh, void *m)
{
	const msgpack_object *val[MAX_MAP_KEYS];
	int rc;
	if (sh->array) {
		char rule[128] = "entries must be [";
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != sh->n) {
			for (size_t i = 0; i < sh->n; i++)
				snprintf(rule + strlen(rule), sizeof rule - strlen(rule), "%s%s",
				         i ? ", " : "", sh->f[i].key);
			snprintf(rule + strlen(rule), sizeof rule - strlen(rule), "]");
			return bad(ctx, list, rule);
		}
		for (size_t i = 0; i < sh->n; i++)
			val[i] = &o->via.array.ptr[i];
	} else if ((rc = map_index(o, ctx, sh->f, sh->n, 0, 0, val)) != VELD_OK) {
		return rc;
	}
	for (size_t i = 0; i < sh->n; i++)
		if ((rc = get_value(val[i], ctx, &sh->f[i], m)) != VELD_OK)
			return rc;
	/* Nil-or-bin fields that share one flag (a device's auth and proof)
	 * are nil together or not at all: the flag cannot say "half". */
	for (size_t i = 0; i < sh->n; i++)
		for (size_t j = 0; j < i; j++)
			if (sh->f[i].type == T_BIN_NIL && sh->f[j].type == T_BIN_NIL &&
			    sh->f[i].aux == sh->f[j].aux &&
			    (val[i]->type == MSGPACK_OBJECT_NIL) != (val[j]->type == MSGPACK_OBJECT_NIL))
				return veld__err(VELD_EPROTO, "%s: '%s' must be nil exactly when '%s' is nil",
				                 ctx, sh->f[i].key, sh->f[j].key);
	return VELD_OK;
}

/* Supersedes entries of a list of operations (or [cursor, op] pairs), for
 * the sizing pass. */
static size_t sup_count(const struct field *f, const msgpack_object_array *a)
{
	size_t n = 0;
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *p = &a->ptr[i];
		if (f->type == T_OPS)
			n += op_sup_count(p);
		else if (p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size == 2)
			n += op_sup_count(&p->via.array.ptr[1]);
	}
	return n;
}

/* Carve a list's arrays out of the block (nothing but measure in the
 * first pass, when the block has no memory yet). */
static void list_take(struct block *b, const struct field *f, const msgpack_object_array *a,
                      void *m, veld__ref **sup, size_t nsup)
{
	int ops = f->type == T_OPS || f->type == T_OP_PAIRS;
	*M(m, f->off, void *) = take(b, a->size, ops ? sizeof(veld__op) : f->of->size);
	*M(m, f->aux, size_t) = a->size;
	if (f->type == T_PAIRS || f->type == T_OP_PAIRS)
		*M(m, f->cur, uint64_t *) = take(b, a->size, sizeof(uint64_t));
	if (ops)
		*sup = take(b, nsup, sizeof **sup);
}

/* A list's entries. */
static int get_list(const msgpack_object_array *a, const char *ctx, const struct field *f,
                    void *m, veld__ref **sup, size_t *room)
{
	unsigned char *elem = *M(m, f->off, unsigned char *);
	int pairs = f->type == T_PAIRS || f->type == T_OP_PAIRS, rc;
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *x = &a->ptr[i];
		if (pairs && (rc = get_pair(x, ctx, f->key, &(*M(m, f->cur, uint64_t *))[i], &x)))
			return rc;
		if (f->type == T_OPS || f->type == T_OP_PAIRS)
			rc = get_op(x, f->ctx, (veld__op *)(void *)elem + i, sup, room);
		else
			rc = get_record(x, f->ctx ? f->ctx : ctx, f->key, f->of, elem + i * f->of->size);
		if (rc != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* A message's fields, in three steps so that every count is checked before
 * anything is allocated: the values and the lists' sizes, in the order of
 * the keys; one block for all the lists; the lists' entries. *present (may
 * be NULL) gets bit i for each field given and not nil. */
static int get_fields(struct veld__wire *w, const msgpack_object *const *val, const char *ctx,
                      const struct shape *sh, void *m, uint32_t *present)
{
	const msgpack_object_array *arr[MAX_MAP_KEYS] = {0};
	struct block b = {0};
	veld__ref *sup = NULL;
	size_t nsup = 0, room;
	int rc;

	for (size_t i = 0; i < sh->n; i++) {
		const struct field *f = &sh->f[i];
		if (!val[i])
			continue; /* an optional field */
		if (present && val[i]->type != MSGPACK_OBJECT_NIL)
			*present |= 1u << i;
		if (!is_list(f))
			rc = get_value(val[i], ctx, f, m);
		else if ((rc = get_array(val[i], ctx, f->key, f->lim, &arr[i])) == VELD_OK &&
		         f->type >= T_OPS)
			nsup = sup_count(f, arr[i]);
		if (rc != VELD_OK)
			return rc;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sh->n; i++)
			if (arr[i])
				list_take(&b, &sh->f[i], arr[i], m, &sup, nsup);
		if (pass == 0 && (rc = block_alloc(w, &b)) != VELD_OK)
			return rc;
	}
	room = nsup;
	for (size_t i = 0; i < sh->n; i++)
		if (arr[i] && (rc = get_list(arr[i], ctx, &sh->f[i], m, &sup, &room)) != VELD_OK)
			return rc;
	return VELD_OK;
}

/* Steps 1 and 2, then the body's map: its first key must be "v" with value 1.
 * val[0] gets the value of "v", val[i + 1] that of field i. */
static int decode_root(struct veld__wire *w, const uint8_t *body, size_t len,
                       const struct message *msg, void *m, size_t size,
                       const msgpack_object **val)
{
	const char *ctx = msg->ctx;
	const msgpack_object *root;
	size_t off = 0;
	uint64_t v = 0;
	int rc;

	memset(m, 0, size);
	memset(w, 0, sizeof *w);
	msgpack_unpacked_init(&w->u);
	if (len > VELD_WIRE_MAX_BODY)
		return veld__err(VELD_EPROTO, "%s: the body is larger than 4 MiB", ctx);
	if (!body && len)
		return veld__err(VELD_EPROTO, "%s: no body", ctx);
	if ((rc = scan(body, len, ctx, msg->depth, msg->values)) != VELD_OK)
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
	if ((rc = map_index(root, ctx, msg->shape.f, msg->shape.n, 1, msg->optional, val)) != VELD_OK)
		return rc;
	if ((rc = get_uint(val[0], ctx, "v", 0, &v)) != VELD_OK)
		return rc;
	if (v != VELD_WIRE_VERSION)
		return veld__err(VELD_EPROTO, "%s: 'v' must be %d", ctx, VELD_WIRE_VERSION);
	return VELD_OK;
}

/* A whole message: its root, its fields, its rule. */
static int decode_message(struct veld__wire *w, const uint8_t *body, size_t len,
                          const struct message *msg, void *m, size_t size, uint32_t *present)
{
	const msgpack_object *val[MAX_MAP_KEYS + 1];
	int rc = decode_root(w, body, len, msg, m, size, val);
	if (rc == VELD_OK)
		rc = get_fields(w, val + 1, msg->ctx, &msg->shape, m, present);
	if (rc == VELD_OK && msg->rule)
		rc = msg->rule(VELD_EPROTO, msg->ctx, m);
	return rc;
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

/* ---- encoding a table's fields ------------------------------------------- */

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

/* Validation before encoding: the decoder's rules on the struct's values. */
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
	if (op->version < 1 || op->version > VELD_OP_VERSION)
		return veld__err(VELD_EINVAL, "%s: 'version' must be 1 to %d", ctx, VELD_OP_VERSION);
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

static int check_record(const char *ctx, const struct shape *sh, const void *m);

/* A list's count, and each entry. */
static int check_list(const char *ctx, const struct field *f, const void *m)
{
	const unsigned char *elem = *CM(m, f->off, unsigned char *);
	size_t n = *CM(m, f->aux, size_t);
	int ops = f->type == T_OPS || f->type == T_OP_PAIRS, rc;
	if ((rc = enc_count(ctx, f->key, n, f->lim, elem)) != VELD_OK ||
	    ((f->type == T_PAIRS || f->type == T_OP_PAIRS) &&
	     (rc = enc_count(ctx, f->key, n, f->lim, *CM(m, f->cur, uint64_t *))) != VELD_OK))
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (ops)
			rc = check_op(f->ctx, (const veld__op *)(const void *)elem + i);
		else
			rc = check_record(f->ctx ? f->ctx : ctx, f->of, elem + i * f->of->size);
		if (rc != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* Validation before encoding: the decoder's rules on the struct's values,
 * so a peer never receives what we would refuse ourselves. */
static int check_value(const char *ctx, const struct field *f, const void *m)
{
	const struct veld__batch *b = m;
	size_t n;
	switch (f->type) {
	case T_UINT: return enc_min(ctx, f->key, *CM(m, f->off, uint64_t), f->lim);
	case T_STR: return enc_str(ctx, f->key, CM(m, f->off, char), f->aux, f->lim, f->rule);
	case T_BLOB:
		n = *CM(m, f->aux, size_t);
		if ((*CM(m, f->off, const uint8_t *) || n == 0) && n >= (f->rule ? 0u : 1u) &&
		    n <= f->lim)
			return VELD_OK;
		return veld__err(VELD_EINVAL, "%s: '%s' must be %d to %llu bytes", ctx, f->key,
		                 f->rule ? 0 : 1, (unsigned long long)f->lim);
	case T_HASHES:
		if (b->last >= b->first && b->last - b->first < MAX_BATCH_OPS && b->hashes)
			return VELD_OK;
		return veld__err(VELD_EINVAL, "%s: needs first <= last, at most %d operations, and hashes",
		                 ctx, MAX_BATCH_OPS);
	case T_RECORD:
		return *CM(m, f->aux, int) ? check_record(f->ctx, f->of, CM(m, f->off, void)) : VELD_OK;
	default:
		return is_list(f) ? check_list(ctx, f, m) : VELD_OK;
	}
}

static int check_record(const char *ctx, const struct shape *sh, const void *m)
{
	int rc;
	if (sh->check)
		return sh->check(ctx, m);
	for (size_t i = 0; i < sh->n; i++)
		if ((rc = check_value(ctx, &sh->f[i], m)) != VELD_OK)
			return rc;
	return VELD_OK;
}

static void pack_record(msgpack_packer *pk, const struct shape *sh, const void *m);

/* A list as an array of its records, operations or [cursor, x] pairs. */
static void pack_list(msgpack_packer *pk, const struct field *f, const void *m)
{
	const unsigned char *elem = *CM(m, f->off, unsigned char *);
	const uint64_t *cursors = f->type == T_PAIRS || f->type == T_OP_PAIRS
	                          ? *CM(m, f->cur, uint64_t *) : NULL;
	size_t n = *CM(m, f->aux, size_t);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		if (cursors) {
			msgpack_pack_array(pk, 2);
			msgpack_pack_uint64(pk, cursors[i]);
		}
		if (f->type == T_OPS || f->type == T_OP_PAIRS)
			veld__wire_pack_op(pk, (const veld__op *)(const void *)elem + i);
		else
			pack_record(pk, f->of, elem + i * f->of->size);
	}
}

static void pack_value(msgpack_packer *pk, const struct field *f, const void *m)
{
	const struct veld__batch *b = m;
	const void *p = CM(m, f->off, void);
	switch (f->type) {
	case T_UINT_NIL:
		if (!*(const uint64_t *)p) {
			msgpack_pack_nil(pk);
			break;
		}
		/* fall through */
	case T_UINT: msgpack_pack_uint64(pk, *(const uint64_t *)p); break;
	case T_BOOL:
		if (*(const int *)p)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case T_BIN_NIL:
		if (!*CM(m, f->aux, int)) {
			msgpack_pack_nil(pk);
			break;
		}
		/* fall through */
	case T_BIN: msgpack_pack_bin_with_body(pk, p, (size_t)f->lim); break;
	case T_STR: msgpack_pack_str_with_body(pk, p, strlen(p)); break;
	case T_BLOB:
		msgpack_pack_bin_with_body(pk, *(const uint8_t *const *)p, *CM(m, f->aux, size_t));
		break;
	case T_HASHES:
		msgpack_pack_bin_with_body(pk, b->hashes, (size_t)(b->last - b->first + 1) * HASH_BYTES);
		break;
	case T_RECORD: pack_record(pk, f->of, p); break;
	default: pack_list(pk, f, m);
	}
}

/* Is the field on the wire? Only an optional record, or an optional list
 * when empty (PAIRS0), is left out. */
static int field_present(const struct field *f, const void *m)
{
	if (f->type == T_PAIRS && f->rule)
		return *CM(m, f->aux, size_t) > 0;
	return f->type != T_RECORD || *CM(m, f->aux, int);
}

static void pack_record(msgpack_packer *pk, const struct shape *sh, const void *m)
{
	if (sh->array)
		msgpack_pack_array(pk, sh->n);
	else
		msgpack_pack_map(pk, sh->n);
	for (size_t i = 0; i < sh->n; i++) {
		if (!sh->array)
			put_key(pk, sh->f[i].key);
		pack_value(pk, &sh->f[i], m);
	}
}

/* Check, then append the message to `out`: {"v": 1, fields...}. */
static int encode_message(msgpack_sbuffer *out, const struct message *msg, const void *m)
{
	const struct shape *sh = &msg->shape;
	struct writer wr;
	msgpack_packer *pk;
	uint32_t nkeys = 1;
	int rc;
	if ((rc = check_record(msg->ctx, sh, m)) != VELD_OK ||
	    (msg->rule && (rc = msg->rule(VELD_EINVAL, msg->ctx, m)) != VELD_OK))
		return rc;
	for (size_t i = 0; i < sh->n; i++)
		nkeys += (uint32_t)field_present(&sh->f[i], m);
	pk = writer_begin(&wr, out, nkeys);
	for (size_t i = 0; i < sh->n; i++) {
		if (!field_present(&sh->f[i], m))
			continue;
		put_key(pk, sh->f[i].key);
		pack_value(pk, &sh->f[i], m);
	}
	return writer_end(&wr);
}

/* ---- the messages --------------------------------------------------------- */

/* The record of struct MSG whose fields are name##_fields: a map, or an
 * array of the values when `array`. */
#define ENTRY(name, array) \
	static const struct shape name##_shape = SHAPE(array, name##_fields, MSG, NULL)

/* Entries of the messages' lists. */
#define MSG struct veld__envelope
static const struct field envelope_fields[] = {
	BIN(client, VELD_ID_BYTES), UINT(kv, 1), STR(to, TO_MAX, S_TO), UINT(tv, 0),
	BIN(sealed, VELD_SEALED_KEY_BYTES), BIN(from, VELD_ID_BYTES), BIN(sig, SIG_BYTES),
};
ENTRY(envelope, 0);
#undef MSG

#define MSG struct veld__batch
static const struct field batch_fields[] = {
	BIN(device, VELD_ID_BYTES), UINT(first, 0), UINT(last, 0), BIN(sig, SIG_BYTES),
	{"hashes", T_HASHES, 0, 0, AT(hashes)}, UINT(ver, 1),
};
ENTRY(batch, 0);
#undef MSG

#define MSG struct veld__stub
static const struct field stub_fields[] = {
	BIN(device, VELD_ID_BYTES), UINT(seq, 1), STR(team, VELD_TEAM_MAX, S_TEAM),
	BIN(client, VELD_ID_BYTES), BIN(kh, HASH_BYTES),
};
ENTRY(stub, 0);
#undef MSG

#define MSG struct veld__held
static const struct field held_fields[] = {
	BIN(device, VELD_ID_BYTES), UINT(seq, 1), STR(team, VELD_TEAM_MAX, S_TEAM),
	BIN(client, VELD_ID_BYTES), STR(kind, VELD_KIND_MAX, S_KIND),
	STR(field, VELD_FIELD_MAX, S_TEXT), BIN(rh, HASH_BYTES),
};
ENTRY(held, 0);
#undef MSG

#define MSG struct veld__own_run
static const struct field own_run_fields[] = {UINT(from, 1), UINT(to, 1), BIN(d, HASH_BYTES)};
ENTRY(own_run, 0);
#undef MSG

#define MSG struct veld__notice
static const struct field notice_fields[] = {
	STR(team, VELD_TEAM_MAX, S_TEAM), UINT(n, 1), STR(kind, 15, S_TEXT), UINT(at, 1),
	BLOB(body, body_len, VELD_NOTICE_BODY_MAX), BIN(sig, SIG_BYTES),
};
ENTRY(notice, 0);
#undef MSG

#define MSG struct veld__checkpoint
static const struct field checkpoint_fields[] = {
	STR(team, VELD_TEAM_MAX, S_TEAM), UINT(at, 1), UINT(n, 0),
	BLOB0(heads, heads_len, 24 * VELD_WIRE_MAX_HEADS), BIN(sig, SIG_BYTES),
};
ENTRY(checkpoint, 0);
#undef MSG

#define MSG struct veld__team_key
static const struct field team_key_fields[] = {
	STR(team, VELD_TEAM_MAX, S_TEAM), UINT(tv, 0), BIN(pk, PK_BYTES),
	BIN(sealed, VELD_SEALED_KEY_BYTES), BIN(sig, SIG_BYTES),
};
ENTRY(team_key, 0);
#undef MSG


#define MSG struct veld__sealed_for
static const struct field sealed_for_fields[] = {
	BIN(device, VELD_ID_BYTES), BIN(sealed, VELD_SEALED_KEY_BYTES),
};
ENTRY(sealed_for, 0);
#undef MSG

/* A device as the list carries it; 0 means "not revoked" in the struct,
 * so a revocation time is at least 1. */
#define MSG struct veld__device_info
static const struct field device_fields[] = {
	BIN(device, VELD_ID_BYTES), STR(team, VELD_TEAM_MAX, S_TEAM_OR_STAR),
	STR(role, ROLE_MAX, S_ROLE), STR(label, LABEL_MAX, S_TEXT), BIN(sign_pk, PK_BYTES),
	BIN(box_pk, PK_BYTES), UINT(enrolled, 0), UINT_NIL(revoked, 1),
	BIN_NIL(auth, 32, has_auth), BIN_NIL(proof, 32, has_auth),
};
ENTRY(device, 0);
#undef MSG

/* Access-log entries: a push carries [seq, sealed, sig], a pull
 * [cursor, device, seq, sealed, sig]. */
#define MSG struct veld__audit_entry
static const struct field audit_push_entry_fields[] = {
	UINT(seq, 1), BLOB(sealed, sealed_len, VELD_AUDIT_SEALED_MAX), BIN(sig, SIG_BYTES),
};
static const struct field audit_pull_entry_fields[] = {
	UINT(cursor, 1), BIN(device, VELD_ID_BYTES), UINT(seq, 1),
	BLOB(sealed, sealed_len, VELD_AUDIT_SEALED_MAX), BIN(sig, SIG_BYTES),
};
ENTRY(audit_push_entry, 1);
ENTRY(audit_pull_entry, 1);
#undef MSG

/* Rules across a message's fields. */
static int push_rule(int code, const char *ctx, const void *m)
{
	const struct veld__push_req *p = m;
	if (!p->has_sig == !p->nops)
		return VELD_OK;
	return veld__err(code, "%s: 'sig' must be nil exactly when 'ops' is empty", ctx);
}

static int audit_push_rule(int code, const char *ctx, const void *m)
{
	const struct veld__audit_push_req *p = m;
	return check_audit_seqs(code, ctx, p->entries, p->n, 0);
}

/* A message of struct MSG whose fields are name##_fields: what errors call
 * it, the nesting and the number of values of the largest legal one
 * (scan), its optional keys (bit i = field i) and its rule across fields. */
#define MESSAGE_SPEC(name, ctx, depth, values, optional, rule)                               \
	static const struct message name##_msg = {                                                \
		ctx, depth, values, SHAPE(0, name##_fields, MSG, NULL), optional, rule}

/* Its public decoder and encoder (wire.h). */
#define WIRE_DECODER(name)                                                                    \
	int veld__wire_##name##_decode(struct veld__wire *w, const uint8_t *body, size_t len,    \
	                               MSG *m)                                                   \
	{                                                                                        \
		return decode_end(w, m, sizeof *m,                                                   \
		                  decode_message(w, body, len, &name##_msg, m, sizeof *m, NULL));    \
	}
#define WIRE_ENCODER(name)                                                                    \
	int veld__wire_##name##_encode(msgpack_sbuffer *out, const MSG *m)                      \
	{                                                                                        \
		return encode_message(out, &name##_msg, m);                                          \
	}
#define MESSAGE(name, ctx, depth, values, optional, rule)                                    \
	MESSAGE_SPEC(name, ctx, depth, values, optional, rule);                                 \
	WIRE_DECODER(name) WIRE_ENCODER(name)

/* The messages, each with its fields after "v". */
#define MSG struct veld__push_req
static const struct field push_req_fields[] = {
	OPS(ops, nops, VELD_WIRE_MAX_OPS, "push operation"), BIN_NIL(sig, SIG_BYTES, has_sig),
	LIST("envelopes", envs, nenvs, VELD_WIRE_MAX_ENVS, envelope_shape, "push envelope"),
};
MESSAGE(push_req, "push", PUSH_DEPTH, PUSH_VALUES, 0, push_rule)
#undef MSG

#define MSG struct veld__push_resp
static const struct field push_resp_fields[] = {UINT(acked, 0), UINT(stored, 0)};
MESSAGE(push_resp, "push response", FLAT_DEPTH, FLAT_VALUES, 0, NULL)
#undef MSG

/* A checkpoint's heads are whole 24-byte entries (device, seq). */
static int checkpoint_heads_rule(int code, const char *ctx, const struct veld__checkpoint *c)
{
	if (c->heads_len % 24 == 0)
		return VELD_OK;
	return veld__err(code, "%s: 'heads' must be whole entries of 24 bytes", ctx);
}

/* The operation feed's lists share the page size between them, each
 * operation of an own run counting as one (a receiver checks every hash a
 * run covers); a run goes up. */
static int pull_rule(int code, const char *ctx, const void *m)
{
	const struct veld__pull_resp *p = m;
	size_t items = p->nops + p->nstubs + p->nheld;
	for (size_t i = 0; i < p->nown; i++) {
		if (p->own[i].to < p->own[i].from || p->own[i].to - p->own[i].from >= VELD_WIRE_MAX_PAGE)
			return veld__err(code, "%s: an own run must go up, by at most %d operations", ctx,
			                 VELD_WIRE_MAX_PAGE);
		items += (size_t)(p->own[i].to - p->own[i].from) + 1;
		if (items > VELD_WIRE_MAX_PAGE)
			break;
	}
	if (items > VELD_WIRE_MAX_PAGE)
		return veld__err(code, "%s: more than %d operations and stubs", ctx,
		                 VELD_WIRE_MAX_PAGE);
	return p->has_checkpoint ? checkpoint_heads_rule(code, ctx, &p->checkpoint) : VELD_OK;
}

#define MSG struct veld__pull_resp
static const struct field pull_resp_fields[] = {
	OP_PAIRS(ops, nops, cursors, VELD_WIRE_MAX_PAGE, "pull operation"),
	PAIRS("stubs", stubs, nstubs, stub_cursors, VELD_WIRE_MAX_PAGE, stub_shape, "pull stub"),
	PAIRS("held", held, nheld, held_cursors, VELD_WIRE_MAX_PAGE, held_shape, "pull held"),
	LIST("batches", batches, nbatches, VELD_WIRE_MAX_PAGE, batch_shape, "pull batch"),
	PAIRS("envelopes", envs, nenvs, env_cursors, VELD_WIRE_MAX_ENVS, envelope_shape,
	      "pull envelope"),
	LIST("team_keys", team_keys, nteam_keys, MAX_TEAM_KEYS, team_key_shape, "pull team key"),
	PAIRS("notices", notices, nnotices, notice_cursors, VELD_WIRE_MAX_NOTICES, notice_shape,
	      "pull notice"),
	UINT(next, 0), UINT(env_next, 0), UINT(notice_next, 0), BOOL(more),
	RECORD("checkpoint", checkpoint, has_checkpoint, checkpoint_shape, "pull checkpoint"),
	PAIRS0("own", own, nown, own_cursors, VELD_WIRE_MAX_PAGE, own_run_shape, "pull own run"),
};
MESSAGE(pull_resp, "pull", PULL_DEPTH, PULL_VALUES, 1u << 11 | 1u << 12, pull_rule)
#undef MSG

#define MSG struct veld__enroll_req
static const struct field enroll_req_fields[] = {
	BIN(auth, 32), BIN(device, VELD_ID_BYTES), BIN(sign_pk, PK_BYTES), BIN(box_pk, PK_BYTES),
	STR(label, LABEL_MAX, S_TEXT), BIN(proof, 32),
};
MESSAGE(enroll_req, "enroll", FLAT_DEPTH, FLAT_VALUES, 0, NULL)
#undef MSG

/* A worker's answer carries its team's key, and the office's keys once
 * there is an office (the decoder is below). */
#define MSG struct veld__enroll_resp
static const struct field enroll_resp_fields[] = {
	STR(role, ROLE_MAX, S_ROLE), STR(team, VELD_TEAM_MAX, S_TEAM_OR_STAR), UINT(tv, 0),
	BIN_NIL(team_pk, PK_BYTES, has_team_key),
	BIN_NIL(team_sealed, VELD_TEAM_SEALED_BYTES, has_team_key),
	BIN_NIL(office_device, VELD_ID_BYTES, has_office),
	BIN_NIL(office_sign_pk, PK_BYTES, has_office), BIN_NIL(office_box_pk, PK_BYTES, has_office),
};
MESSAGE_SPEC(enroll_resp, "enroll response", FLAT_DEPTH, FLAT_VALUES, 0, NULL);
WIRE_ENCODER(enroll_resp)
#undef MSG

#define MSG struct veld__invite_req
static const struct field invite_req_fields[] = {
	BIN(auth, 32), STR(team, VELD_TEAM_MAX, S_TEAM), UINT(expires, 0), UINT(tv, 0),
	BIN(team_sealed, VELD_TEAM_SEALED_BYTES),
};
MESSAGE(invite_req, "invite", FLAT_DEPTH, FLAT_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__team_keys_req
static const struct field team_keys_req_fields[] = {
	STR(team, VELD_TEAM_MAX, S_TEAM), UINT(tv, 0), BIN(pk, PK_BYTES), BIN(sig, SIG_BYTES),
	LIST("sealed", sealed, nsealed, VELD_WIRE_MAX_DEVICES, sealed_for_shape, "team-keys entry"),
};
MESSAGE(team_keys_req, "team-keys", LIST_DEPTH, TEAM_KEYS_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__revoke_req
static const struct field revoke_req_fields[] = {BIN(device, VELD_ID_BYTES)};
MESSAGE(revoke_req, "revoke", FLAT_DEPTH, FLAT_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__notice_req
static const struct field notice_req_fields[] = {
	LIST("notices", notices, n, VELD_WIRE_MAX_NOTICES, notice_shape, "notice"),
};
MESSAGE(notice_req, "notices", LIST_DEPTH, NOTICE_REQ_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__checkpoint_req
static const struct field checkpoint_req_fields[] = {
	LIST("checkpoints", checkpoints, n, VELD_WIRE_MAX_NOTICES, checkpoint_shape, "checkpoint"),
};
static int checkpoint_req_rule(int code, const char *ctx, const void *m)
{
	const struct veld__checkpoint_req *p = m;
	int rc = VELD_OK;
	for (size_t i = 0; i < p->n && rc == VELD_OK; i++)
		rc = checkpoint_heads_rule(code, ctx, &p->checkpoints[i]);
	return rc;
}
MESSAGE(checkpoint_req, "checkpoints", LIST_DEPTH, CHECKPOINT_REQ_VALUES, 0, checkpoint_req_rule)
#undef MSG

#define MSG struct veld__revoke_resp
static const struct field revoke_resp_fields[] = {
	STR(team, VELD_TEAM_MAX, S_TEAM_OR_STAR), UINT(acked, 0),
};
MESSAGE(revoke_resp, "revoke response", FLAT_DEPTH, FLAT_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__devices_resp
static const struct field devices_resp_fields[] = {
	LIST("devices", devices, ndevices, VELD_WIRE_MAX_DEVICES, device_shape, "devices entry"),
};
MESSAGE(devices_resp, "devices", LIST_DEPTH, DEVICES_VALUES, 0, NULL)
#undef MSG

#define MSG struct veld__audit_push_req
static const struct field audit_push_req_fields[] = {
	LIST("entries", entries, n, VELD_WIRE_MAX_AUDIT, audit_push_entry_shape, NULL),
};
MESSAGE(audit_push_req, "audit push", LIST_DEPTH, AUDIT_PUSH_VALUES, 0, audit_push_rule)
#undef MSG

#define MSG struct veld__audit_pull_resp
static const struct field audit_pull_resp_fields[] = {
	LIST("entries", entries, n, VELD_WIRE_MAX_PAGE, audit_pull_entry_shape, NULL),
	UINT(next, 0), BOOL(more),
};
MESSAGE(audit_pull_resp, "audit pull", LIST_DEPTH, AUDIT_PULL_VALUES, 0, NULL)
#undef MSG

/* The error's "expected" has a rule of its own (below). */
#define MSG struct veld__error_resp
static const struct field error_fields[] = {
	STR(error, ERROR_MAX, S_TEXT), STR(message, MESSAGE_MAX, S_TEXT), UINT(expected, 0),
};
MESSAGE_SPEC(error, "error response", FLAT_DEPTH, FLAT_VALUES, 1u << 2, NULL);
#undef MSG

/* The office's keys come all three or none, the team's key with its sealed
 * copy. */
int veld__wire_enroll_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                  struct veld__enroll_resp *m)
{
	static const char ctx[] = "enroll response";
	uint32_t has = 0; /* bit i: enroll_resp_fields[i] is not nil */
	int rc = decode_message(w, body, len, &enroll_resp_msg, m, sizeof *m, &has);
	uint32_t team = (has >> 3) & 3u, office = (has >> 5) & 7u;
	if (rc == VELD_OK && team != 0 && team != 3)
		rc = bad(ctx, "team_sealed", "must be nil exactly when 'team_pk' is nil");
	else if (rc == VELD_OK && office != 0 && office != 7)
		rc = bad(ctx, "office_device", "and the office keys must be all nil or all set");
	m->has_team_key = team == 3;
	m->has_office = office == 7;
	return decode_end(w, m, sizeof *m, rc);
}

/* "expected" is there exactly with error gap. */
int veld__wire_error_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                            struct veld__error_resp *m)
{
	static const char ctx[] = "error response";
	const msgpack_object *val[4];
	int rc = decode_root(w, body, len, &error_msg, m, sizeof *m, val);
	if (rc == VELD_OK && (rc = get_value(val[1], ctx, &error_fields[0], m)) == VELD_OK &&
	    (rc = get_value(val[2], ctx, &error_fields[1], m)) == VELD_OK) {
		if (strcmp(m->error, "gap") == 0)
			rc = val[3] ? get_uint(val[3], ctx, "expected", 0, &m->expected)
			            : veld__err(VELD_EPROTO, "%s: missing 'expected'", ctx);
		else if (val[3])
			rc = bad(ctx, "expected", "is only allowed with error gap");
	}
	return decode_end(w, m, sizeof *m, rc);
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

static const struct message ok_msg = {"response", FLAT_DEPTH, FLAT_VALUES, {0, 0, NULL, 0, NULL},
                                      0, NULL};

int veld__wire_ok_decode(struct veld__wire *w, const uint8_t *body, size_t len)
{
	int dummy = 0;
	return decode_end(w, &dummy, sizeof dummy,
	                  decode_message(w, body, len, &ok_msg, &dummy, sizeof dummy, NULL));
}

int veld__wire_ok_encode(msgpack_sbuffer *out)
{
	return encode_message(out, &ok_msg, NULL);
}

/* ---- the plaintext of an access-log entry ------------------------------------ */

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

/* ---- notice bodies ------------------------------------------------------------- */

static const char *const notice_kinds[] = {NULL,     "cert",   "revoke", "erase",
                                           "policy", "schema", "move"};
static const unsigned notice_sizes[] = {0, 5, 2, 1, 1, 2, 2};

int veld__notice_kind_of(const char *name)
{
	for (int k = VELD_NOTICE_CERT; k <= VELD_NOTICE_MOVE; k++)
		if (name && strcmp(name, notice_kinds[k]) == 0)
			return k;
	return 0;
}

const char *veld__notice_kind_name(int kind)
{
	return kind >= VELD_NOTICE_CERT && kind <= VELD_NOTICE_MOVE ? notice_kinds[kind] : NULL;
}

int veld__wire_notice_body_encode(msgpack_sbuffer *out, const struct veld__notice_body *b)
{
	static const char ctx[] = "notice body";
	struct writer wr;
	msgpack_packer *pk = &wr.pk;
	int rc;
	if (!veld__notice_kind_name(b->kind))
		return veld__err(VELD_EINVAL, "%s: unknown kind", ctx);
	if (b->kind == VELD_NOTICE_CERT &&
	    (rc = enc_str(ctx, "role", b->role, sizeof b->role, ROLE_MAX, S_ROLE)) != VELD_OK)
		return rc;
	if (b->kind == VELD_NOTICE_SCHEMA &&
	    (b->version == 0 || !b->doc || b->doc_len == 0 || b->doc_len > VELD_SCHEMA_DOC_MAX))
		return veld__err(VELD_EINVAL, "%s: a schema needs a version and 1 byte to 128 KiB", ctx);
	if (b->kind == VELD_NOTICE_MOVE &&
	    (rc = enc_str(ctx, "to_team", b->to_team, sizeof b->to_team, VELD_TEAM_MAX, S_TEAM)) !=
	    VELD_OK)
		return rc;
	if (b->kind == VELD_NOTICE_POLICY && (b->mask & ~VELD_POLICY_ALL))
		return veld__err(VELD_EINVAL, "%s: the mask names a field the policy does not govern",
		                 ctx);
	wr.sb = out;
	wr.start = out->size;
	wr.failed = 0;
	msgpack_packer_init(pk, &wr, writer_cb);
	msgpack_pack_array(pk, notice_sizes[b->kind]);
	if (b->kind == VELD_NOTICE_POLICY) {
		msgpack_pack_uint64(pk, b->mask);
		return writer_end(&wr);
	}
	if (b->kind == VELD_NOTICE_SCHEMA) {
		msgpack_pack_uint64(pk, b->version);
		msgpack_pack_bin_with_body(pk, b->doc, b->doc_len);
		return writer_end(&wr);
	}
	msgpack_pack_bin_with_body(pk, b->id, VELD_ID_BYTES);
	if (b->kind == VELD_NOTICE_REVOKE)
		msgpack_pack_uint64(pk, b->last_seq);
	if (b->kind == VELD_NOTICE_MOVE)
		msgpack_pack_str_with_body(pk, b->to_team, strlen(b->to_team));
	if (b->kind == VELD_NOTICE_CERT) {
		msgpack_pack_bin_with_body(pk, b->sign_pk, PK_BYTES);
		msgpack_pack_bin_with_body(pk, b->box_pk, PK_BYTES);
		msgpack_pack_str_with_body(pk, b->role, strlen(b->role));
		msgpack_pack_uint64(pk, b->enrolled);
	}
	return writer_end(&wr);
}

/* The fields of a body's array, by kind. */
static int notice_fields_get(const msgpack_object *e, struct veld__notice_body *out)
{
	static const char ctx[] = "notice body";
	uint64_t mask = 0;
	int rc;
	switch (out->kind) {
	case VELD_NOTICE_POLICY:
		if ((rc = get_uint(&e[0], ctx, "mask", 0, &mask)) != VELD_OK)
			return rc;
		if (mask & ~(uint64_t)VELD_POLICY_ALL)
			return bad(ctx, "mask", "names a field the policy does not govern");
		out->mask = (uint32_t)mask;
		return VELD_OK;
	case VELD_NOTICE_REVOKE:
		if ((rc = get_bin(&e[0], ctx, "device", VELD_ID_BYTES, out->id)) != VELD_OK)
			return rc;
		return get_uint(&e[1], ctx, "last_seq", 0, &out->last_seq);
	case VELD_NOTICE_ERASE:
		return get_bin(&e[0], ctx, "client", VELD_ID_BYTES, out->id);
	case VELD_NOTICE_MOVE:
		if ((rc = get_bin(&e[0], ctx, "client", VELD_ID_BYTES, out->id)) != VELD_OK)
			return rc;
		return get_str(&e[1], ctx, "to_team", VELD_TEAM_MAX, S_TEAM, out->to_team);
	case VELD_NOTICE_SCHEMA:
		if ((rc = get_uint(&e[0], ctx, "version", 1, &out->version)) != VELD_OK)
			return rc;
		if (e[1].type != MSGPACK_OBJECT_BIN || e[1].via.bin.size == 0 ||
		    e[1].via.bin.size > VELD_SCHEMA_DOC_MAX)
			return bad(ctx, "doc", "must be 1 byte to 128 KiB of bin");
		out->doc = (const uint8_t *)e[1].via.bin.ptr;
		out->doc_len = e[1].via.bin.size;
		return VELD_OK;
	default:
		if ((rc = get_bin(&e[0], ctx, "device", VELD_ID_BYTES, out->id)) ||
		    (rc = get_bin(&e[1], ctx, "sign_pk", PK_BYTES, out->sign_pk)) ||
		    (rc = get_bin(&e[2], ctx, "box_pk", PK_BYTES, out->box_pk)) ||
		    (rc = get_str(&e[3], ctx, "role", ROLE_MAX, S_ROLE, out->role)))
			return rc;
		return get_uint(&e[4], ctx, "enrolled", 0, &out->enrolled);
	}
}

int veld__wire_notice_body_decode(const char *kind, const uint8_t *p, size_t len,
                                  struct veld__notice_body *out)
{
	static const char ctx[] = "notice body";
	msgpack_unpacked u;
	size_t off = 0;
	int rc;
	memset(out, 0, sizeof *out);
	if (!(out->kind = veld__notice_kind_of(kind)))
		return veld__err(VELD_EPROTO, "notice: unknown kind");
	if (out->kind != VELD_NOTICE_SCHEMA && len > VELD_NOTICE_SMALL_MAX)
		return veld__err(VELD_EPROTO, "notice: a %s's body is at most 512 bytes", kind);
	if ((rc = scan(p, len, ctx, 1, 1 + notice_sizes[out->kind])) != VELD_OK) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)p, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || u.data.type != MSGPACK_OBJECT_ARRAY ||
	    u.data.via.array.size != notice_sizes[out->kind])
		rc = veld__err(VELD_EPROTO, "%s: must be exactly one array of %u elements for a %s",
		               ctx, notice_sizes[out->kind], kind);
	else
		rc = notice_fields_get(u.data.via.array.ptr, out);
	msgpack_unpacked_destroy(&u);
	if (rc != VELD_OK)
		memset(out, 0, sizeof *out);
	return rc;
}
