/* test_e2e_audit.c - the access log's way to the office against the real
 * `veld serve`: a device the office can never certify does not hold up the
 * other devices' entries (finding 12 of the i9 review). */
#include "e2e.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *device_id(veld_store *s)
{
	char *out = NULL, *id;
	json_t *info;
	ok(veld_store_info(s, &out));
	info = json_loads(out, 0, NULL);
	veld_free(out);
	id = strdup(json_string_value(json_object_get(info, "device")));
	json_decref(info);
	return id;
}

/* The office's rows of a device, as veld_office_log lists them. */
static char *office_log_of(veld_store *office, const char *device)
{
	char filter[128], *out = NULL;
	snprintf(filter, sizeof filter, "{\"device\":\"%s\"}", device);
	ok(veld_office_log(office, filter, &out));
	return out;
}

/* A device enrolls and pushes its access log; the office revokes it before
 * it ever certified it, so it never will. Its entries come first in the
 * server's feed. Every other device's entries after them still reach the
 * office, at every sync; the sync says that entries wait. */
static void test_e2e__device_revoked_before_certification_holds_up_no_one(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], *c, *out = NULL, *dev_a, *dev_x;
	struct e2e_server srv;
	veld_store *office, *a, *x;
	json_t *summary, *warnings, *rows;
	int warned = 0;
	(void)state;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	dev_a = device_id(a);
	x = e2e_device_uncertified(&srv, office, tmp, "xander", "noord");
	dev_x = device_id(x);
	e2e_sync(x); /* its access log reaches the server, not yet the office */
	ok(veld_office_revoke(office, dev_x, NULL));

	c = e2e_create(a, "client", "{\"name\":\"Logged\"}");
	ok(veld_record_get(a, "client", c, "after the revocation", &out));
	veld_free(out);
	e2e_sync(a);
	ok(veld_sync(office, NULL, &out));
	summary = json_loads(out, 0, NULL);
	veld_free(out);
	out = office_log_of(office, dev_a);
	assert_non_null(strstr(out, "after the revocation"));
	veld_free(out);
	assert_true(json_integer_value(json_object_get(summary, "log_pulled")) > 0);
	/* What the sync sent and received: every request's headers at least. */
	assert_true(json_integer_value(json_object_get(summary, "bytes_up")) > 0);
	assert_true(json_integer_value(json_object_get(summary, "bytes_down")) > 0);
	warnings = json_object_get(summary, "warnings");
	for (size_t i = 0; i < json_array_size(warnings); i++)
		warned |= strstr(json_string_value(json_array_get(warnings, i)), "access-log") != NULL;
	assert_true(warned);
	json_decref(summary);
	/* Nothing of it taken as genuine: passed over, or kept as unverified
	 * once the office gave up on it (right after certifying, when
	 * client.c calls veld__audit_after_certify). */
	out = office_log_of(office, dev_x);
	rows = json_loads(out, 0, NULL);
	veld_free(out);
	assert_true(json_is_array(rows));
	for (size_t i = 0; i < json_array_size(rows); i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(rows, i),
		                    "event")), "unverified");
	json_decref(rows);

	/* And again: the cursor did not stop at the revoked device. */
	ok(veld_record_get(a, "client", c, "second look", &out));
	veld_free(out);
	e2e_sync(a);
	e2e_sync(office);
	out = office_log_of(office, dev_a);
	assert_non_null(strstr(out, "second look"));
	veld_free(out);

	veld_store_free(a);
	veld_store_free(x);
	veld_store_free(office);
	free(c);
	free(dev_a);
	free(dev_x);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e__device_revoked_before_certification_holds_up_no_one),
	};
	if (argc < 2)
		return 2;
	e2e_veld = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
