/* fuzz_wire.c - libFuzzer target for the sync wire decoders.
 *
 * Every input goes to every decoder, the notice bodies' decoder once for
 * each kind. A decoder must answer VELD_OK or VELD_EPROTO (never crash, leak
 * or read out of bounds: build with ASan), and whatever it accepts must
 * survive the encoder: encode(decode(x)) succeeds, decodes again to the
 * same thing, and encodes to the same bytes. */
#include "veld.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wire: %s: %s\n", what, veld_error_last());
		abort();
	}
}

/* decode(body) -> encode -> decode -> encode, for one message type. */
#define ROUND_TRIP(type, dec, enc, name)                                                 \
	do {                                                                                 \
		struct type m1, m2;                                                              \
		struct veld__wire w1, w2;                                                        \
		msgpack_sbuffer s1, s2;                                                          \
		int rc_ = dec(&w1, data, size, &m1);                                             \
		check(rc_ == VELD_OK || rc_ == VELD_EPROTO, name ": decode result");            \
		if (rc_ == VELD_OK) {                                                            \
			msgpack_sbuffer_init(&s1);                                                   \
			msgpack_sbuffer_init(&s2);                                                   \
			check(enc(&s1, &m1) == VELD_OK, name ": re-encode");                         \
			check(dec(&w2, (const uint8_t *)s1.data, s1.size, &m2) == VELD_OK,           \
			      name ": decode of re-encoded");                                        \
			check(enc(&s2, &m2) == VELD_OK, name ": second encode");                     \
			check(s1.size == s2.size && memcmp(s1.data, s2.data, s1.size) == 0,          \
			      name ": encoding is not stable");                                      \
			veld__wire_free(&w2);                                                        \
			msgpack_sbuffer_destroy(&s1);                                                \
			msgpack_sbuffer_destroy(&s2);                                                \
		}                                                                                \
		veld__wire_free(&w1);                                                            \
	} while (0)

/* A notice's body as each kind: decode -> encode -> decode -> encode. */
static void notice_bodies(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = {"cert", "revoke", "erase", "policy", "grant"};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		struct veld__notice_body b1, b2;
		msgpack_sbuffer s1, s2;
		int rc = veld__wire_notice_body_decode(kinds[k], data, size, &b1);
		check(rc == VELD_OK || rc == VELD_EPROTO, "notice body: decode result");
		if (rc != VELD_OK)
			continue;
		check(b1.kind == veld__notice_kind_of(kinds[k]), "notice body: kind");
		msgpack_sbuffer_init(&s1);
		msgpack_sbuffer_init(&s2);
		check(veld__wire_notice_body_encode(&s1, &b1) == VELD_OK, "notice body: re-encode");
		check(veld__wire_notice_body_decode(kinds[k], (const uint8_t *)s1.data, s1.size,
		                                    &b2) == VELD_OK,
		      "notice body: decode of re-encoded");
		check(memcmp(&b1, &b2, sizeof b1) == 0, "notice body: decodes to another body");
		check(veld__wire_notice_body_encode(&s2, &b2) == VELD_OK, "notice body: second encode");
		check(s1.size == s2.size && memcmp(s1.data, s2.data, s1.size) == 0,
		      "notice body: encoding is not stable");
		msgpack_sbuffer_destroy(&s1);
		msgpack_sbuffer_destroy(&s2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct veld__wire w;
	int rc;

	ROUND_TRIP(veld__push_req, veld__wire_push_req_decode, veld__wire_push_req_encode, "push");
	ROUND_TRIP(veld__push_resp, veld__wire_push_resp_decode, veld__wire_push_resp_encode,
	           "push response");
	ROUND_TRIP(veld__pull_resp, veld__wire_pull_resp_decode, veld__wire_pull_resp_encode, "pull");
	ROUND_TRIP(veld__enroll_req, veld__wire_enroll_req_decode, veld__wire_enroll_req_encode,
	           "enroll");
	ROUND_TRIP(veld__enroll_resp, veld__wire_enroll_resp_decode, veld__wire_enroll_resp_encode,
	           "enroll response");
	ROUND_TRIP(veld__invite_req, veld__wire_invite_req_decode, veld__wire_invite_req_encode,
	           "invite");
	ROUND_TRIP(veld__team_keys_req, veld__wire_team_keys_req_decode,
	           veld__wire_team_keys_req_encode, "team-keys");
	ROUND_TRIP(veld__revoke_req, veld__wire_revoke_req_decode, veld__wire_revoke_req_encode,
	           "revoke");
	ROUND_TRIP(veld__revoke_resp, veld__wire_revoke_resp_decode, veld__wire_revoke_resp_encode,
	           "revoke response");
	ROUND_TRIP(veld__devices_resp, veld__wire_devices_resp_decode,
	           veld__wire_devices_resp_encode, "devices");
	ROUND_TRIP(veld__error_resp, veld__wire_error_decode, veld__wire_error_encode, "error");
	ROUND_TRIP(veld__notice_req, veld__wire_notice_req_decode, veld__wire_notice_req_encode,
	           "notices");
	ROUND_TRIP(veld__checkpoint_req, veld__wire_checkpoint_req_decode,
	           veld__wire_checkpoint_req_encode, "checkpoints");
	ROUND_TRIP(veld__audit_push_req, veld__wire_audit_push_req_decode,
	           veld__wire_audit_push_req_encode, "audit push");
	ROUND_TRIP(veld__audit_pull_resp, veld__wire_audit_pull_resp_decode,
	           veld__wire_audit_pull_resp_encode, "audit pull");
	notice_bodies(data, size);
	{
		/* the bodies of accepted notices, as their kind says */
		struct veld__notice_req m;
		if (veld__wire_notice_req_decode(&w, data, size, &m) == VELD_OK)
			for (size_t i = 0; i < m.n; i++) {
				struct veld__notice_body b;
				rc = veld__wire_notice_body_decode(m.notices[i].kind, m.notices[i].body,
				                                   m.notices[i].body_len, &b);
				check(rc == VELD_OK || rc == VELD_EPROTO, "notice's body: decode result");
			}
		veld__wire_free(&w);
	}
	{
		struct veld__audit_plain pl;
		rc = veld__wire_audit_plain_decode(data, size, &pl);
		check(rc == VELD_OK || rc == VELD_EPROTO, "audit entry: decode result");
	}

	rc = veld__wire_ok_decode(&w, data, size);
	check(rc == VELD_OK || rc == VELD_EPROTO, "ok: decode result");
	veld__wire_free(&w);
	return 0;
}
