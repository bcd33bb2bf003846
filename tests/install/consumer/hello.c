/*
 * hello.c - a program an app developer writes against an installed veld:
 * it includes every installed header, creates an encrypted store with a
 * raw key, records a client and prints the store's client count. tests/install/install_test.sh builds it against the installed
 * prefix through pkg-config and through find_package(veld).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <veld.h>
#include <veld_bridge.h>
#include <veld_sync.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hello DIR\n");
		return 2;
	}
	uint8_t key[VELD_KEY_BYTES];
	memset(key, 7, sizeof key);
	veld_store *s = NULL;
	char *json = NULL;
	veld_store_options opts = VELD_STORE_OPTIONS_INIT;
	int rc = veld_init();
	if (rc == VELD_OK)
		rc = veld_store_create_with_key(&s, argv[1], key, &opts);
	if (rc == VELD_OK)
		rc = veld_record_create(s, "client", "{\"name\":\"Test Client\"}", NULL, NULL);
	if (rc == VELD_OK)
		rc = veld_store_info(s, &json);
	if (rc != VELD_OK) {
		fprintf(stderr, "hello: %s\n", veld_strerror(rc));
		veld_store_free(s);
		return 1;
	}
	const char *clients = strstr(json, "\"clients\"");
	printf("veld %d.%d.%d: %s\n", VELD_VERSION_MAJOR, VELD_VERSION_MINOR, VELD_VERSION_PATCH,
		clients != NULL ? clients : json);
	veld_free(json);
	veld_store_free(s);
	return 0;
}
