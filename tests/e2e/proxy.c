/* proxy.c - the tampering HTTP proxy of the end-to-end tests (proxy.h). */
#include "proxy.h"

#include "wire.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define URI_MAX 4096

struct tproxy {
	struct MHD_Daemon *d;
	int lfd;
	char url[64], upstream[64];
	pthread_mutex_t mu; /* held for a whole exchange, and by set_hook */
	tproxy_hook hook;
	void *arg;
	CURL *curl; /* the proxy thread's own */
	char **seen; /* every URI forwarded */
	size_t nseen, capseen;
};

/* One request as it arrives. */
struct preq {
	char uri[URI_MAX];
	int started;
	uint8_t *body;
	size_t len, cap;
};

struct buf {
	uint8_t *b;
	size_t n;
	char ctype[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = size * n;
	uint8_t *g = realloc(b->b, b->n + len + 1);
	if (!g)
		return 0;
	memcpy(g + b->n, p, len);
	b->b = g;
	b->n += len;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = size * n;
	if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
		size_t k = len - 14;
		while (k && (p[14 + k - 1] == '\r' || p[14 + k - 1] == '\n'))
			k--;
		snprintf(b->ctype, sizeof b->ctype, "%.*s", (int)k, p + 14);
	}
	return len;
}

/* Forward the request as it came; *status 502 if the server did not answer. */
static void forward(struct tproxy *p, struct MHD_Connection *c, const char *method,
                    const struct preq *r, long *status, struct buf *out)
{
	static const char *const names[] = {"Veld-Device", "Veld-Time", "Veld-Nonce",
	                                    "Veld-Signature", "Content-Type"};
	struct curl_slist *hl = NULL;
	char url[URI_MAX + 64], line[512];
	snprintf(url, sizeof url, "%s%s", p->upstream, r->uri);
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, names[i]);
		if (v) {
			snprintf(line, sizeof line, "%s: %s", names[i], v);
			hl = curl_slist_append(hl, line);
		}
	}
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	/* A connection of its own each time: the server may have restarted. */
	curl_easy_setopt(p->curl, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, out);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(p->curl, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(p->curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	}
	*status = 502;
	CURLcode cc = curl_easy_perform(p->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, status);
	else
		fprintf(stderr, "proxy: %s %s: %s\n", method, r->uri, curl_easy_strerror(cc));
	curl_slist_free_all(hl);
}

static void note_seen(struct tproxy *p, const char *uri)
{
	if (p->nseen == p->capseen) {
		size_t cap = p->capseen ? 2 * p->capseen : 64;
		char **g = realloc(p->seen, cap * sizeof *g);
		if (!g)
			return;
		p->seen = g;
		p->capseen = cap;
	}
	p->seen[p->nseen++] = strdup(uri);
}

static enum MHD_Result answer(struct tproxy *p, struct MHD_Connection *c, const char *method,
                              struct preq *r)
{
	struct tproxy_msg m;
	struct MHD_Response *resp;
	struct buf up;
	enum MHD_Result ret;
	const char *dev = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Veld-Device");

	memset(&m, 0, sizeof m);
	memset(&up, 0, sizeof up);
	m.method = method;
	m.uri = r->uri;
	m.device = dev ? dev : "";
	m.req = r->body;
	m.req_len = r->len;
	pthread_mutex_lock(&p->mu);
	if (p->hook)
		p->hook(&m, p->arg);
	if (m.status == 0) {
		note_seen(p, r->uri);
		forward(p, c, method, r, &m.status, &up);
		m.answered = 1;
		m.body = up.b;
		m.len = up.n;
		if (p->hook)
			p->hook(&m, p->arg);
	}
	resp = MHD_create_response_from_buffer(m.len, m.body ? m.body : (uint8_t *)"",
	                                       MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&p->mu);
	free(m.body);
	for (size_t i = 0; i < m.nscratch; i++)
		free(m.scratch[i]);
	free(m.scratch);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        up.ctype[0] ? up.ctype : VELD_CONTENT_TYPE);
	ret = MHD_queue_response(c, (unsigned)m.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct preq *r = *con_cls;
	(void)url;
	(void)version;
	if (!r)
		return MHD_NO;
	if (!r->started) { /* the headers: wait for the body */
		r->started = 1;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->len + *upload_size > r->cap) {
			size_t cap = (r->len + *upload_size) * 2;
			uint8_t *g = realloc(r->body, cap);
			if (!g)
				return MHD_NO;
			r->body = g;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, *upload_size);
		r->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	return answer(cls, c, method, r);
}

/* The URI as sent (path and query): what the request signature covers. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct preq *r = calloc(1, sizeof *r);
	(void)cls;
	(void)c;
	if (r)
		snprintf(r->uri, sizeof r->uri, "%s", uri);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct preq *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
	}
	*con_cls = NULL;
}

struct tproxy *tproxy_start(const char *upstream)
{
	struct tproxy *p = calloc(1, sizeof *p);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int one = 1;
	if (!p)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&p->mu, NULL);
	snprintf(p->upstream, sizeof p->upstream, "%s", upstream);
	p->curl = curl_easy_init();
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (!p->curl || p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(p->lfd, 32) != 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0)
		goto fail;
	snprintf(p->url, sizeof p->url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0, NULL,
	                        NULL, on_request, p, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)p->lfd,
	                        MHD_OPTION_URI_LOG_CALLBACK, on_uri, p,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
	                        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
	if (!p->d)
		goto fail;
	return p;
fail:
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->curl)
		curl_easy_cleanup(p->curl);
	pthread_mutex_destroy(&p->mu);
	free(p);
	curl_global_cleanup();
	return NULL;
}

const char *tproxy_url(const struct tproxy *p)
{
	return p->url;
}

void tproxy_set_hook(struct tproxy *p, tproxy_hook hook, void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->hook = hook;
	p->arg = arg;
	pthread_mutex_unlock(&p->mu);
}

size_t tproxy_count(struct tproxy *p, const char *prefix)
{
	size_t n = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nseen; i++)
		if (p->seen[i] && (!prefix || strncmp(p->seen[i], prefix, strlen(prefix)) == 0))
			n++;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void tproxy_stop(struct tproxy *p)
{
	if (!p)
		return;
	MHD_stop_daemon(p->d);
	close(p->lfd);
	curl_easy_cleanup(p->curl);
	for (size_t i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	free(p->seen);
	pthread_mutex_destroy(&p->mu);
	free(p);
	curl_global_cleanup();
}

/* ---- for hooks ------------------------------------------------------------ */

int tproxy_is(const struct tproxy_msg *m, const char *method, const char *prefix,
              const char *device)
{
	return strcmp(m->method, method) == 0 && strncmp(m->uri, prefix, strlen(prefix)) == 0 &&
	       (!device || strcasecmp(m->device, device) == 0);
}

uint64_t tproxy_query_u64(const struct tproxy_msg *m, const char *name)
{
	const char *q = strchr(m->uri, '?');
	size_t n = strlen(name);
	while (q) {
		q++;
		if (strncmp(q, name, n) == 0 && q[n] == '=')
			return strtoull(q + n + 1, NULL, 10);
		q = strchr(q, '&');
	}
	return 0;
}

void *tproxy_alloc(struct tproxy_msg *m, size_t n)
{
	void *x = calloc(1, n ? n : 1), **g;
	if (!x)
		return NULL;
	if (!(g = realloc(m->scratch, (m->nscratch + 1) * sizeof *g))) {
		free(x);
		return NULL;
	}
	m->scratch = g;
	m->scratch[m->nscratch++] = x;
	return x;
}

void tproxy_set_body(struct tproxy_msg *m, long status, const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		return;
	if (n)
		memcpy(c, b, n);
	free(m->body);
	m->body = c;
	m->len = n;
	m->status = status;
}

/* Decode, edit, encode: one body for the three kinds below. */
#define EDIT(m, decode, encode, type, fn, arg)                                        \
	do {                                                                            \
		struct veld__wire w_;                                                       \
		type msg_;                                                                  \
		msgpack_sbuffer sb_;                                                        \
		int r_;                                                                     \
		if (!(m)->answered || (m)->status != 200 || !(m)->body)                    \
			return -1;                                                              \
		memset(&w_, 0, sizeof w_);                                                  \
		memset(&msg_, 0, sizeof msg_);                                              \
		if (decode(&w_, (m)->body, (m)->len, &msg_) != VELD_OK) {                  \
			veld__wire_free(&w_);                                                   \
			return -1;                                                              \
		}                                                                           \
		if ((r_ = fn(&msg_, arg)) != 0) {                                           \
			veld__wire_free(&w_);                                                   \
			return 1;                                                               \
		}                                                                           \
		msgpack_sbuffer_init(&sb_);                                                 \
		r_ = encode(&sb_, &msg_);                                                   \
		veld__wire_free(&w_);                                                       \
		if (r_ == VELD_OK)                                                          \
			tproxy_set_body(m, 200, (const uint8_t *)sb_.data, sb_.size);           \
		msgpack_sbuffer_destroy(&sb_);                                              \
		return r_ == VELD_OK ? 0 : -1;                                              \
	} while (0)

int tproxy_edit_pull(struct tproxy_msg *m, int (*fn)(struct veld__pull_resp *p, void *arg),
                     void *arg)
{
	EDIT(m, veld__wire_pull_resp_decode, veld__wire_pull_resp_encode, struct veld__pull_resp, fn,
	     arg);
}

int tproxy_edit_audit(struct tproxy_msg *m,
                      int (*fn)(struct veld__audit_pull_resp *p, void *arg), void *arg)
{
	EDIT(m, veld__wire_audit_pull_resp_decode, veld__wire_audit_pull_resp_encode,
	     struct veld__audit_pull_resp, fn, arg);
}

int tproxy_edit_devices(struct tproxy_msg *m,
                        int (*fn)(struct veld__devices_resp *p, void *arg), void *arg)
{
	EDIT(m, veld__wire_devices_resp_decode, veld__wire_devices_resp_encode,
	     struct veld__devices_resp, fn, arg);
}
