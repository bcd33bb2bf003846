/* fuzz_wire.c - libFuzzer target for the sync wire decoders.
 *
 * Every input goes to every decoder. A decoder must answer VELD_OK or
 * VELD_EPROTO (never crash, leak or read out of bounds: build with ASan),
 * and whatever it accepts must survive the encoder: encode(decode(x))
 * succeeds, decodes again, and encodes to the same bytes. */
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
	ROUND_TRIP(veld__erase_req, veld__wire_erase_req_decode, veld__wire_erase_req_encode,
	           "erase");
	ROUND_TRIP(veld__field_policy, veld__wire_policy_req_decode, veld__wire_policy_req_encode,
	           "policy");
	ROUND_TRIP(veld__audit_push_req, veld__wire_audit_push_req_decode,
	           veld__wire_audit_push_req_encode, "audit push");
	ROUND_TRIP(veld__audit_pull_resp, veld__wire_audit_pull_resp_decode,
	           veld__wire_audit_pull_resp_encode, "audit pull");
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
