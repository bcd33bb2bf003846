/*
 * test_console_http.c - the office console's HTTP rules, against the real
 * `veld office console` on 127.0.0.1 (argv[1] is the veld binary).
 *
 * One console for the whole run, as a person has it: the tests run in
 * order, because the one-time link can be spent only once. Each checks a
 * rule of docs/console.md: nothing without the link's session; the link
 * works once; a change needs the session's CSRF token and a JSON body of
 * bounded size, and a refused one changes nothing; every answer carries
 * the Content-Security-Policy; plain HTTP off loopback is refused.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

static const char *veld_bin;
static char dir[64], base[128], link_url[256], cookie[256], csrf[80], client_id[40];
static pid_t console_pid;

/* ---- running veld ---------------------------------------------------------------- */

/* Run veld with `args` (a shell word list, no user input), output in
 * *out (static); returns its exit code. */
static int veld(const char *args, char *out, size_t outsize)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "VELD_STORE=%s/office VELD_PASSPHRASE='correct horse battery "
		"staple' '%s' %s 2>%s/err", dir, veld_bin, args, dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	if (p == NULL)
		return -1;
	if (out != NULL)
		n = fread(out, 1, outsize - 1, p);
	else
		while (fgetc(p) != EOF)
			;
	if (out != NULL)
		out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- HTTP ------------------------------------------------------------------------- */

struct buf {
	char data[256 * 1024];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *b_)
{
	struct buf *b = b_;
	size_t take = size * n;
	if (take > sizeof b->data - 1 - b->len)
		take = sizeof b->data - 1 - b->len;
	memcpy(b->data + b->len, p, take);
	b->len += take;
	b->data[b->len] = '\0';
	return size * n;
}

static struct buf head, body;
/* One more request header for the next requests (NULL: none). */
static const char *extra_header;

/* One request; the status, with head and body filled. `with_cookie`
 * sends the session cookie; `token` (may be NULL) as X-CSRF-Token. */
static long http(const char *method, const char *url, bool with_cookie, const char *token,
	const char *data, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char line[256];
	long status = 0;
	head.len = body.len = 0;
	head.data[0] = body.data[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (with_cookie)
		curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
	if (token != NULL) {
		snprintf(line, sizeof line, "X-CSRF-Token: %s", token);
		h = curl_slist_append(h, line);
	}
	if (extra_header != NULL)
		h = curl_slist_append(h, extra_header);
	if (data != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	/* The policy is on every answer, refusals included. */
	assert_non_null(strstr(head.data, "Content-Security-Policy: default-src 'self'"));
	assert_non_null(strstr(head.data, "frame-ancestors 'none'"));
	assert_non_null(strstr(head.data, "X-Frame-Options: DENY"));
	return status;
}

/* A GET as the page makes it: with the session's cookie, the session's key
 * too (once the link gave it). */
static long get(const char *path, bool with_cookie)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	return http("GET", url, with_cookie, with_cookie && *csrf ? csrf : NULL, NULL, 0);
}

/* A GET with the cookie alone, as a server on another port of 127.0.0.1
 * has it once the office's browser visited it (a cookie is not bound to a
 * port). */
static long get_with_cookie_only(const char *path)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	return http("GET", url, true, NULL, NULL, 0);
}

static long post(const char *path, const char *token, const char *json)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	return http("POST", url, true, token, json, json ? strlen(json) : 0);
}

/* Is the client still in the office store? Read through the console:
 * the store is the console's while it runs (docs/console.md). */
static bool client_listed(void)
{
	assert_int_equal(get("/api/clients", true), 200);
	return strstr(body.data, client_id) != NULL;
}

/* ---- set-up -------------------------------------------------------------------------- */

static int start(void **state)
{
	static char out[4096];
	int fds[2];
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/veld-console-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (veld("office init --kdf-memory 19 --kdf-passes 2", NULL, 0) != 0 ||
	    veld("client add --name 'Jan Proef' --team noord --json", out, sizeof out) != 0)
		return -1;
	char *id = strstr(out, "\"id\": \"");
	if (id == NULL)
		return -1;
	snprintf(client_id, sizeof client_id, "%.32s", id + 7);
	if (pipe(fds) != 0)
		return -1;
	if ((console_pid = fork()) == 0) {
		char store[128];
		snprintf(store, sizeof store, "%s/office", dir);
		dup2(fds[1], 1);
		close(fds[0]);
		setenv("VELD_STORE", store, 1);
		setenv("VELD_PASSPHRASE", "correct horse battery staple", 1);
		execl(veld_bin, veld_bin, "office", "console", "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (f == NULL || fgets(out, sizeof out, f) == NULL)
		return -1;
	fclose(f);
	char *l = strstr(out, "http://127.0.0.1:"), *end = l ? strchr(l, ' ') : NULL;
	if (end == NULL)
		return -1;
	snprintf(link_url, sizeof link_url, "%.*s", (int)(end - l), l);
	snprintf(base, sizeof base, "%.*s", (int)(strstr(link_url, "/?token=") - link_url),
		link_url);
	return 0;
}

static int stop(void **state)
{
	int st = 0;
	char cmd[128];
	(void)state;
	if (console_pid > 0) {
		kill(console_pid, SIGTERM);
		waitpid(console_pid, &st, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return -1;
	/* SIGTERM is the way to stop it: a clean exit. */
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- the tests, in order ------------------------------------------------------------ */

static void test_console__without_the_link_everything_is_refused(void **state)
{
	char url[512];
	(void)state;
	assert_int_equal(get("/", false), 401);
	assert_int_equal(get("/app.js", false), 401);
	assert_int_equal(get("/api/clients", false), 401);
	assert_null(strstr(body.data, "Jan"));
	assert_int_equal(get("/api/session", false), 401);
	assert_int_equal(post("/api/client/erase", NULL, "{}"), 401);
	snprintf(url, sizeof url, "%s/?token=%064d", base, 7);
	assert_int_equal(http("GET", url, false, NULL, NULL, 0), 403);
	assert_null(strstr(head.data, "Set-Cookie"));
	/* A cookie that is not the session's is no session. */
	snprintf(cookie, sizeof cookie, "veld_console=%064d", 0);
	assert_int_equal(get("/api/clients", true), 401);
}

static void test_console__the_link_works_once(void **state)
{
	(void)state;
	assert_int_equal(http("GET", link_url, false, NULL, NULL, 0), 303);
	char *sc = strstr(head.data, "Set-Cookie: veld_console=");
	assert_non_null(sc);
	assert_non_null(strstr(sc, "HttpOnly"));
	assert_non_null(strstr(sc, "SameSite=Strict"));
	snprintf(cookie, sizeof cookie, "veld_console=%.64s", sc + strlen("Set-Cookie: veld_console="));
	/* The key comes in the redirect's fragment, never in a cookie. */
	char *key = strstr(head.data, "Location: /#key=");
	assert_non_null(key);
	snprintf(csrf, sizeof csrf, "%.64s", key + strlen("Location: /#key="));
	assert_int_equal(strspn(csrf, "0123456789abcdef"), 64);
	assert_null(strstr(cookie, csrf));
	/* Spent: the same link again opens nothing. */
	assert_int_equal(http("GET", link_url, false, NULL, NULL, 0), 403);
	assert_null(strstr(head.data, "Set-Cookie"));
	/* The session opens the page and the API. */
	assert_int_equal(get("/", true), 200);
	assert_non_null(strstr(body.data, "<script src=\"/app.js\""));
	assert_null(strstr(body.data, "<script>"));
	assert_int_equal(get("/api/clients", true), 200);
	assert_non_null(strstr(body.data, client_id));
	assert_int_equal(get("/api/session", true), 200);
	assert_null(strstr(body.data, csrf));
}

static void test_console__the_cookie_alone_opens_no_data(void **state)
{
	char path[128];
	(void)state;
	/* The page and its scripts, which hold nothing; */
	assert_int_equal(get_with_cookie_only("/app.js"), 200);
	/* no API: not the key, not a list, not a client (whose read would be
	 * in the access log, as the office's). */
	assert_int_equal(get_with_cookie_only("/api/session"), 403);
	assert_null(strstr(body.data, csrf));
	assert_int_equal(get_with_cookie_only("/api/clients"), 403);
	assert_null(strstr(body.data, client_id));
	snprintf(path, sizeof path, "/api/client?id=%s", client_id);
	assert_int_equal(get_with_cookie_only(path), 403);
	assert_null(strstr(body.data, "Jan"));
	assert_int_equal(get(path, true), 200);
	assert_non_null(strstr(body.data, "Jan Proef"));
}

static void test_console__only_its_own_page_is_answered(void **state)
{
	char host[160];
	(void)state;
	/* What another site, or a page of another port of this host (same-site
	 * to a browser, which sends it the cookie), starts: refused. */
	extra_header = "Sec-Fetch-Site: same-site";
	assert_int_equal(get("/", true), 403);
	assert_null(strstr(body.data, "<script"));
	extra_header = "Sec-Fetch-Site: cross-site";
	assert_int_equal(get("/api/clients", true), 403);
	assert_null(strstr(body.data, client_id));
	/* The console's own page, and the address bar, are answered. */
	extra_header = "Sec-Fetch-Site: same-origin";
	assert_int_equal(get("/api/clients", true), 200);
	extra_header = "Sec-Fetch-Site: none";
	assert_int_equal(get("/", true), 200);
	/* A name rebound to 127.0.0.1 (DNS rebinding) is not answered, with
	 * the session or without. */
	snprintf(host, sizeof host, "Host: evil.example:%s", strrchr(base, ':') + 1);
	extra_header = host;
	assert_int_equal(get("/api/clients", true), 421);
	assert_null(strstr(body.data, client_id));
	assert_int_equal(get("/", false), 421);
	extra_header = "Host: localhost";
	assert_int_equal(get("/api/clients", true), 200);
	extra_header = "Host: [::1]:1";
	assert_int_equal(get("/api/clients", true), 200);
	extra_header = NULL;
}

static void test_console__a_cookie_set_by_another_port_does_not_shut_the_office_out(
	void **state)
{
	char real[96];
	(void)state;
	/* A page on another port may set "veld_console=junk; Path=/api" for
	 * 127.0.0.1; the browser then sends that one first. */
	snprintf(real, sizeof real, "%.90s", cookie);
	snprintf(cookie, sizeof cookie, "veld_console=%064d; %s", 1, real);
	long status = get("/api/clients", true);
	snprintf(cookie, sizeof cookie, "%s", real);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body.data, client_id));
}

static void test_console__a_change_needs_the_csrf_token(void **state)
{
	char json[128], wrong[80];
	(void)state;
	snprintf(json, sizeof json, "{\"client\":\"%s\",\"confirm\":\"%s\"}", client_id, client_id);
	assert_int_equal(post("/api/client/erase", NULL, json), 403);
	assert_non_null(strstr(body.data, "CSRF"));
	snprintf(wrong, sizeof wrong, "%s", csrf);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_int_equal(post("/api/client/erase", wrong, json), 403);
	assert_int_equal(post("/api/client/erase", "", json), 403);
	/* A change is a POST: the same endpoint by GET is refused. */
	assert_int_equal(get("/api/client/erase", true), 405);
	assert_true(client_listed());
	/* The right token gets to the endpoint, which wants its confirmation. */
	snprintf(json, sizeof json, "{\"client\":\"%s\",\"confirm\":\"no\"}", client_id);
	assert_int_equal(post("/api/client/erase", csrf, json), 400);
	assert_non_null(strstr(body.data, "confirm"));
	assert_true(client_listed());
}

static void test_console__bad_json_gets_a_clear_400(void **state)
{
	(void)state;
	assert_int_equal(post("/api/client/erase", csrf, "{\"client\": "), 400);
	assert_non_null(strstr(body.data, "not JSON"));
	assert_int_equal(post("/api/client/erase", csrf, "[1,2]"), 400);
	assert_non_null(strstr(body.data, "JSON object"));
	assert_true(client_listed());
}

static void test_console__an_oversized_body_is_refused(void **state)
{
	size_t n = 200 * 1024;
	char *big = malloc(n + 1);
	char url[512];
	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	snprintf(url, sizeof url, "%s/api/devices/invite", base);
	assert_int_equal(http("POST", url, true, csrf, big, n), 413);
	free(big);
	/* The console still answers. */
	assert_true(client_listed());
}

static void test_console__plain_http_off_loopback_is_refused(void **state)
{
	char err[512] = "", path[128];
	(void)state;
	assert_int_equal(veld("office console --listen 0.0.0.0:0", NULL, 0), 2);
	snprintf(path, sizeof path, "%s/err", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(err, 1, sizeof err - 1, f);
	err[n] = '\0';
	fclose(f);
	assert_non_null(strstr(err, "without TLS"));
	assert_int_equal(veld("office console --listen '[::]:0'", NULL, 0), 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console__without_the_link_everything_is_refused),
		cmocka_unit_test(test_console__the_link_works_once),
		cmocka_unit_test(test_console__the_cookie_alone_opens_no_data),
		cmocka_unit_test(test_console__only_its_own_page_is_answered),
		cmocka_unit_test(test_console__a_cookie_set_by_another_port_does_not_shut_the_office_out),
		cmocka_unit_test(test_console__a_change_needs_the_csrf_token),
		cmocka_unit_test(test_console__bad_json_gets_a_clear_400),
		cmocka_unit_test(test_console__an_oversized_body_is_refused),
		cmocka_unit_test(test_console__plain_http_off_loopback_is_refused),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: test_console_http PATH_TO_VELD\n");
		return 2;
	}
	veld_bin = argv[1];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, start, stop);
	curl_global_cleanup();
	return rc;
}
