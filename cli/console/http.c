/*
 * http.c - the console's web server and its rules (docs/console.md).
 *
 * Who may ask: the console prints one link with a random token. The first
 * GET of "/?token=T" with that token spends it and answers with a session
 * cookie (HttpOnly, SameSite=Strict, Secure under TLS) and, in the
 * redirect's fragment, the session's key; from then on the token opens
 * nothing. Every other request needs that cookie, or it is refused (401)
 * before anything is read or changed. There is one session: the person
 * who opened the link.
 *
 * Why a key beside the cookie: a browser sends a cookie of 127.0.0.1 to
 * every port of 127.0.0.1, so a server of another local user on another
 * port gets the cookie as soon as the office's browser visits it. The key
 * lives in the page's own storage, which is this origin's (port included)
 * alone, and every API request must carry it in the X-CSRF-Token header:
 * the cookie alone opens the page and its scripts, no data. The key is
 * also what makes a change safe from other pages (CSRF).
 *
 * Other pages: a browser says in Sec-Fetch-Site who started a request;
 * one started by another site, or by another port of this host (same-site
 * to a browser, and sent with a SameSite=Strict cookie), is refused. The
 * Host header must be an IP address or localhost (plain HTTP): a page of
 * evil.example that rebinds its name to 127.0.0.1 is not answered.
 *
 * What may change things: POST only, with the key and a JSON object body
 * of at most CONSOLE_BODY_MAX bytes. Anything else is refused with a
 * clear error before the endpoint runs.
 *
 * Every answer carries a Content-Security-Policy that allows only this
 * origin (no inline script, no outside source) and no framing, and is
 * never cached. Plain HTTP is served on loopback only; another address
 * needs TLS.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <sodium.h>

#include "console.h"

#define COOKIE_NAME "veld_console"
/* 32 random bytes, as hex. */
#define SECRET_HEX (2 * 32 + 1)

static const char csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
	"frame-ancestors 'none'";

struct console {
	struct MHD_Daemon *daemon;
	cli *c;
	const veld_sync_options *so;
	bool tls;
	bool token_spent, session_open;
	/* The one-time token, the session id (the cookie) and the session's
	 * key (its CSRF token, which the page keeps in its storage), in guarded
	 * memory: each is as good as the passphrase while the console runs. */
	char *token, *session, *csrf;
};

/* What a connection's request has gathered between libmicrohttpd's calls. */
struct pending {
	bool started, too_large;
	char *body;
	size_t len;
};

unsigned console_error(json_t **out, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	*out = json_pack("{s:s}", "error", msg);
	return status;
}

static void random_hex(char *out)
{
	unsigned char b[32];
	randombytes_buf(b, sizeof b);
	sodium_bin2hex(out, SECRET_HEX, b, sizeof b);
	sodium_memzero(b, sizeof b);
}

/* Is `given` the secret `want`? In constant time; a wrong length is no. */
static bool secret_is(const char *given, const char *want)
{
	return given != NULL && strlen(given) == SECRET_HEX - 1 &&
	       sodium_memcmp(given, want, SECRET_HEX - 1) == 0;
}

/* ---- answers ------------------------------------------------------------------ */

static enum MHD_Result reply(struct console *k, struct MHD_Connection *conn, unsigned status,
	const char *type, const char *data, size_t len, enum MHD_ResponseMemoryMode mode,
	const char *cookie, const char *location)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data,
		mode);
	enum MHD_Result ret;
	(void)k;
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	if (type != NULL)
		MHD_add_response_header(r, "Content-Type", type);
	if (cookie != NULL)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON answer (takes `v`; wipes the text: it may hold record values). */
static enum MHD_Result send_json(struct console *k, struct MHD_Connection *conn,
	unsigned status, json_t *v)
{
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	enum MHD_Result ret;
	json_decref(v);
	if (text == NULL)
		return reply(k, conn, 500, "application/json", "{\"error\":\"out of memory\"}", 25,
			MHD_RESPMEM_PERSISTENT, NULL, NULL);
	ret = reply(k, conn, status, "application/json; charset=utf-8", text, strlen(text),
		MHD_RESPMEM_MUST_COPY, NULL, NULL);
	sodium_memzero(text, strlen(text));
	free(text);
	return ret;
}

static enum MHD_Result refuse(struct console *k, struct MHD_Connection *conn, unsigned status,
	const char *msg)
{
	return send_json(k, conn, status, json_pack("{s:s}", "error", msg));
}

/* ---- the token and the session ----------------------------------------------- */

/* GET /?token=T: the first time with the right token, a session: the
 * cookie, and the key in the fragment of the redirect, which the browser
 * keeps to itself (a fragment is never sent) and the page moves into its
 * storage. */
static enum MHD_Result exchange(struct console *k, struct MHD_Connection *conn, const char *t)
{
	char cookie[160], location[96];
	if (k->token_spent)
		return refuse(k, conn, 403, "this link was used already: restart "
			"`veld office console` for a new one");
	if (!secret_is(t, k->token))
		return refuse(k, conn, 403, "this is not the console's link");
	k->token_spent = true;
	sodium_memzero(k->token, SECRET_HEX);
	random_hex(k->session);
	random_hex(k->csrf);
	k->session_open = true;
	snprintf(cookie, sizeof cookie, COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict%s",
		k->session, k->tls ? "; Secure" : "");
	snprintf(location, sizeof location, "/#key=%s", k->csrf);
	enum MHD_Result ret = reply(k, conn, 303, "text/plain", "", 0, MHD_RESPMEM_PERSISTENT,
		cookie, location);
	sodium_memzero(cookie, sizeof cookie);
	sodium_memzero(location, sizeof location);
	return ret;
}

struct cookie_check {
	const char *session;
	bool found;
};

static enum MHD_Result check_cookie(void *cls, enum MHD_ValueKind kind, const char *key,
	const char *value)
{
	struct cookie_check *cc = cls;
	(void)kind;
	if (key != NULL && strcmp(key, COOKIE_NAME) == 0 && secret_is(value, cc->session))
		cc->found = true;
	return MHD_YES;
}

/* Is any cookie of our name the session's? Not just the first: a page on
 * another port of this host may set a cookie of the same name for
 * 127.0.0.1 with a longer path, which the browser then sends first; only
 * the first would let it shut the office out. */
static bool has_session(struct console *k, struct MHD_Connection *conn)
{
	struct cookie_check cc = {k->session, false};
	if (!k->session_open)
		return false;
	MHD_get_connection_values(conn, MHD_COOKIE_KIND, check_cookie, &cc);
	return cc.found;
}

/* ---- endpoints ------------------------------------------------------------------- */

static const char *call_arg(const console_call *call, const char *name)
{
	const char *v = MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, name);
	return v != NULL && *v != '\0' ? v : NULL;
}

static enum MHD_Result api(struct console *k, struct MHD_Connection *conn, const char *method,
	const char *path, struct pending *p)
{
	const console_route *rt = NULL;
	bool path_known = false;
	json_t *body = NULL, *out = NULL;
	json_error_t jerr;
	for (size_t i = 0; i < console_routes_count && rt == NULL; i++) {
		if (strcmp(console_routes[i].path, path) != 0)
			continue;
		path_known = true;
		if (strcmp(console_routes[i].method, method) == 0)
			rt = &console_routes[i];
	}
	if (rt == NULL)
		return path_known ? refuse(k, conn, 405, "this endpoint takes another method")
		                  : refuse(k, conn, 404, "no such endpoint");
	if (strcmp(method, "POST") == 0) {
		const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		if (type == NULL || strncmp(type, "application/json", 16) != 0)
			return refuse(k, conn, 415, "a change is sent as application/json");
		body = json_loadb(p->body != NULL ? p->body : "", p->len, JSON_REJECT_DUPLICATES, &jerr);
		if (body == NULL) {
			char msg[160];
			snprintf(msg, sizeof msg, "the body is not JSON (line %d, column %d)", jerr.line,
				jerr.column);
			return refuse(k, conn, 400, msg);
		}
		if (!json_is_object(body)) {
			json_decref(body);
			return refuse(k, conn, 400, "the body must be a JSON object");
		}
	}
	console_call call = {k->c, k->so, call_arg, conn, body};
	unsigned status = rt->run(&call, &out);
	json_decref(body);
	return send_json(k, conn, status, out != NULL ? out : json_object());
}

/* GET /api/session: who acts. */
static enum MHD_Result session_info(struct console *k, struct MHD_Connection *conn)
{
	return send_json(k, conn, 200, json_pack("{s:s, s:s}", "user", k->c->user, "role",
		k->c->role ? k->c->role : "office"));
}

static enum MHD_Result asset(struct console *k, struct MHD_Connection *conn, const char *path)
{
	for (size_t i = 0; i < console_assets_count; i++)
		if (strcmp(console_assets[i].path, path) == 0)
			return reply(k, conn, 200, console_assets[i].type, console_assets[i].data,
				strlen(console_assets[i].data), MHD_RESPMEM_PERSISTENT, NULL, NULL);
	return refuse(k, conn, 404, "no such page");
}

/* Is the Host header an IP address or localhost, as the link and a person
 * write it? A page whose name was rebound to 127.0.0.1 sends its own name. */
static bool host_is_local(const char *host)
{
	char name[64];
	unsigned char a[16];
	const char *end;
	size_t n;
	bool v6 = host != NULL && host[0] == '[';
	if (host == NULL)
		return false;
	if (v6)
		end = strchr(++host, ']');
	else if ((end = strchr(host, ':')) == NULL)
		end = host + strlen(host);
	if (end == NULL || (n = (size_t)(end - host)) == 0 || n >= sizeof name)
		return false;
	memcpy(name, host, n);
	name[n] = '\0';
	if (v6)
		return inet_pton(AF_INET6, name, a) == 1;
	return inet_pton(AF_INET, name, a) == 1 || strcasecmp(name, "localhost") == 0;
}

/* Did the browser start this request from the console's own page, or
 * from its address bar (the link)? A browser without Sec-Fetch-Site, or
 * another client, says nothing, and the key is what guards the API. */
static bool own_request(struct MHD_Connection *conn)
{
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	return site == NULL || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
}

/* The request as a whole, once its body (if any) has come. */
static enum MHD_Result answer(struct console *k, struct MHD_Connection *conn, const char *url,
	const char *method, struct pending *p)
{
	const char *token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	bool get = strcmp(method, "GET") == 0;
	if (!k->tls && !host_is_local(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
		return refuse(k, conn, 421, "the console answers to an IP address or localhost in "
			"the Host header only");
	if (get && token != NULL && strcmp(url, "/") == 0)
		return exchange(k, conn, token);
	if (!has_session(k, conn))
		return refuse(k, conn, 401, "no session: open the link `veld office console` "
			"printed (it works once)");
	if (!own_request(conn))
		return refuse(k, conn, 403, "the console answers its own page only (this request "
			"came from another site, or another port of this host)");
	if (p->too_large)
		return refuse(k, conn, 413, "the body is too large");
	if (!get && strcmp(method, "POST") != 0)
		return refuse(k, conn, 405, "only GET and POST");
	if (strncmp(url, "/api/", 5) == 0 &&
	    !secret_is(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token"),
	               k->csrf))
		return refuse(k, conn, 403, "the API needs the session's key (its CSRF token) in the "
			"X-CSRF-Token header: open the console's page");
	if (strncmp(url, "/api/", 5) == 0)
		return get && strcmp(url, "/api/session") == 0 ? session_info(k, conn)
		                                               : api(k, conn, method, url, p);
	if (!get)
		return refuse(k, conn, 405, "a page is read with GET");
	return asset(k, conn, strcmp(url, "/") == 0 ? "/index.html" : url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload, size_t *upload_size,
	void **con_cls)
{
	struct console *k = cls;
	struct pending *p = *con_cls;
	(void)version;
	if (p == NULL) {
		if ((p = calloc(1, sizeof *p)) == NULL)
			return MHD_NO;
		*con_cls = p;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl != NULL && strtoull(cl, NULL, 10) > CONSOLE_BODY_MAX)
			p->too_large = true;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (p->too_large || p->len + n > CONSOLE_BODY_MAX) {
			/* Keep nothing more; the answer says why once it ends. */
			p->too_large = true;
			return MHD_YES;
		}
		char *b = realloc(p->body, p->len + n + 1);
		if (b == NULL)
			return MHD_NO;
		memcpy(b + p->len, upload, n);
		p->body = b;
		p->len += n;
		return MHD_YES;
	}
	return answer(k, conn, url, method, p);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	struct pending *p = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (p == NULL)
		return;
	if (p->body != NULL) {
		sodium_memzero(p->body, p->len);
		free(p->body);
	}
	free(p);
	*con_cls = NULL;
}

/* ---- listening ------------------------------------------------------------------- */

/* "A.B.C.D:PORT" or "[v6]:PORT" (numeric only) into `ss`. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
	char *host, size_t hostsize)
{
	const char *port, *end;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM}, *ai = NULL;
	size_t n;
	if (listen[0] == '[') {
		end = strchr(listen, ']');
		port = end != NULL && end[1] == ':' ? end + 2 : NULL;
		listen++;
	} else {
		end = strrchr(listen, ':');
		port = end != NULL ? end + 1 : NULL;
	}
	memset(ss, 0, sizeof *ss);
	n = end != NULL ? (size_t)(end - listen) : 0;
	if (port == NULL || n == 0 || n >= hostsize || *port == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atoi(port) > 65535)
		return cli_fail(CLI_EXIT_USAGE, "--listen takes A.B.C.D:PORT or [IPv6]:PORT");
	memcpy(host, listen, n);
	host[n] = '\0';
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return cli_fail(CLI_EXIT_USAGE, "--listen: %s is not an IP address", host);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

void console_stop(console *k)
{
	if (k == NULL)
		return;
	if (k->daemon != NULL)
		MHD_stop_daemon(k->daemon);
	sodium_free(k->token);
	sodium_free(k->session);
	sodium_free(k->csrf);
	free(k);
}

/* The address to listen on, and whether it may be: plain HTTP on
 * loopback only. */
static int listen_address(const char *listen, bool tls, struct sockaddr_storage *ss,
	char *host, size_t hostsize)
{
	socklen_t sl;
	int ex = parse_listen(listen, ss, &sl, host, hostsize);
	if (ex == 0 && !loopback(ss) && !tls)
		ex = cli_fail(CLI_EXIT_USAGE, "refusing to serve the console on %s without TLS: it "
			"is not a loopback address (127.0.0.0/8, ::1), and the console shows every "
			"client's record; give --tls-cert and --tls-key, or listen on 127.0.0.1", host);
	return ex;
}

int console_check_listen(const char *listen, bool tls)
{
	struct sockaddr_storage ss;
	char host[64];
	return listen_address(listen, tls, &ss, host, sizeof host);
}

int console_start(console **out, const console_options *o, char **link)
{
	struct sockaddr_storage ss;
	char host[64];
	console *k;
	int ex;
	*out = NULL;
	*link = NULL;
	if ((ex = listen_address(o->listen, o->tls_cert_pem != NULL, &ss, host, sizeof host)) != 0)
		return ex;
	if ((k = calloc(1, sizeof *k)) == NULL ||
	    (k->token = sodium_malloc(SECRET_HEX)) == NULL ||
	    (k->session = sodium_malloc(SECRET_HEX)) == NULL ||
	    (k->csrf = sodium_malloc(SECRET_HEX)) == NULL) {
		console_stop(k);
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	}
	k->c = o->c;
	k->so = o->so;
	k->tls = o->tls_cert_pem != NULL;
	random_hex(k->token);
	/* One polling thread: every handler runs on it, one at a time. */
	k->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (k->tls ? MHD_USE_TLS : 0),
		0, NULL, NULL, on_request, k,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, 64u,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, k,
		k->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, o->tls_cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, o->tls_key_pem,
		MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_END);
	if (k->daemon == NULL) {
		console_stop(k);
		return cli_fail(CLI_EXIT_FAIL, "the console did not start on %s (in use? a TLS "
			"certificate and key that do not load?)", o->listen);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(k->daemon,
		MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = di != NULL ? di->port : 0;
	size_t n = strlen(host) + 2 * SECRET_HEX + 64;
	if ((*link = malloc(n)) == NULL) {
		console_stop(k);
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	}
	snprintf(*link, n, "%s://%s%s%s:%u/?token=%s", k->tls ? "https" : "http",
		ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port,
		k->token);
	*out = k;
	return 0;
}
