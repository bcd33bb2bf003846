/* balancer.c - a TCP load balancer for end-to-end tests (balancer.h). */
#define _GNU_SOURCE
#include "balancer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tbal {
	int fd;
	uint16_t port;
	uint16_t backends[TBAL_MAX_BACKENDS];
	int up[TBAL_MAX_BACKENDS];
	size_t count[TBAL_MAX_BACKENDS];
	size_t n;
	uint32_t rng;
	int stop;
	int active; /* connection threads running */
	pthread_mutex_t mu;
	pthread_t accept_thread;
};

struct pump {
	struct tbal *b;
	int client, server;
};

static int stopping(struct tbal *b)
{
	return __atomic_load_n(&b->stop, __ATOMIC_ACQUIRE);
}

/* Copy what `from` has to `to`: 1 while open, 0 at its end, -1 on error. */
static int copy_some(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof buf);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR)
			return -1;
		off += w > 0 ? w : 0;
	}
	return 1;
}

/* Both ways until both halves ended (a half that ends is passed on as a
 * shutdown), an error, or a stop. */
static void *pump_run(void *arg)
{
	struct pump *p = arg;
	int open[2] = {1, 1};
	while (!stopping(p->b) && (open[0] || open[1])) {
		struct pollfd f[2] = {{p->client, open[0] ? POLLIN : 0, 0},
		                      {p->server, open[1] ? POLLIN : 0, 0}};
		int r = poll(f, 2, 100), rc;
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (f[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((rc = copy_some(p->client, p->server)) < 0)
				break;
			if (rc == 0) {
				open[0] = 0;
				shutdown(p->server, SHUT_WR);
			}
		}
		if (f[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((rc = copy_some(p->server, p->client)) < 0)
				break;
			if (rc == 0) {
				open[1] = 0;
				shutdown(p->client, SHUT_WR);
			}
		}
	}
	close(p->client);
	close(p->server);
	__atomic_sub_fetch(&p->b->active, 1, __ATOMIC_RELEASE);
	free(p);
	return NULL;
}

static uint32_t next_rand(struct tbal *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 17;
	b->rng ^= b->rng << 5;
	return b->rng;
}

/* A connection to a backend picked at random among those up: -1 if none
 * is up or it refuses. */
static int backend_connect(struct tbal *b)
{
	size_t ups[TBAL_MAX_BACKENDS], nup = 0, i;
	struct sockaddr_in sa;
	int fd;
	pthread_mutex_lock(&b->mu);
	for (i = 0; i < b->n; i++)
		if (b->up[i])
			ups[nup++] = i;
	i = nup ? ups[next_rand(b) % nup] : 0;
	if (nup)
		b->count[i]++;
	pthread_mutex_unlock(&b->mu);
	if (!nup || (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(b->backends[i]);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void serve_one(struct tbal *b, int client)
{
	struct pump *p;
	pthread_t t;
	int server = backend_connect(b);
	if (server < 0 || !(p = malloc(sizeof *p))) {
		if (server >= 0)
			close(server);
		close(client);
		return;
	}
	*p = (struct pump){b, client, server};
	__atomic_add_fetch(&b->active, 1, __ATOMIC_RELEASE);
	if (pthread_create(&t, NULL, pump_run, p) != 0) {
		__atomic_sub_fetch(&b->active, 1, __ATOMIC_RELEASE);
		close(client);
		close(server);
		free(p);
		return;
	}
	pthread_detach(t);
}

static void *accept_run(void *arg)
{
	struct tbal *b = arg;
	while (!stopping(b)) {
		struct pollfd f = {b->fd, POLLIN, 0};
		int c;
		if (poll(&f, 1, 100) <= 0)
			continue;
		if ((c = accept4(b->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			serve_one(b, c);
	}
	return NULL;
}

struct tbal *tbal_start(const uint16_t *ports, size_t n, uint32_t seed)
{
	struct tbal *b = calloc(1, sizeof *b);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	if (!b || n == 0 || n > TBAL_MAX_BACKENDS)
		goto fail;
	b->n = n;
	b->rng = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		b->backends[i] = ports[i];
		b->up[i] = 1;
	}
	pthread_mutex_init(&b->mu, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((b->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(b->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(b->fd, 64) != 0 ||
	    getsockname(b->fd, (struct sockaddr *)&sa, &sl) != 0)
		goto fail;
	b->port = ntohs(sa.sin_port);
	if (pthread_create(&b->accept_thread, NULL, accept_run, b) != 0)
		goto fail;
	return b;
fail:
	if (b && b->fd > 0)
		close(b->fd);
	free(b);
	return NULL;
}

uint16_t tbal_port(const struct tbal *b)
{
	return b->port;
}

void tbal_set_up(struct tbal *b, size_t i, int up)
{
	pthread_mutex_lock(&b->mu);
	if (i < b->n)
		b->up[i] = up;
	pthread_mutex_unlock(&b->mu);
}

size_t tbal_count(struct tbal *b, size_t i)
{
	size_t n;
	pthread_mutex_lock(&b->mu);
	n = i < b->n ? b->count[i] : 0;
	pthread_mutex_unlock(&b->mu);
	return n;
}

void tbal_stop(struct tbal *b)
{
	if (!b)
		return;
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
	pthread_join(b->accept_thread, NULL);
	close(b->fd);
	while (__atomic_load_n(&b->active, __ATOMIC_ACQUIRE) > 0)
		usleep(10000);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
