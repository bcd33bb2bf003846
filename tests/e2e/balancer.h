/* balancer.h - a TCP load balancer for end-to-end tests.
 *
 * Listens on 127.0.0.1 (a free port) and hands each connection it accepts
 * to one of its backends (127.0.0.1 ports), picked at random among those
 * marked up, then copies bytes both ways until either side closes: what a
 * layer-4 balancer in front of several `veld serve` processes does. TLS
 * passes through untouched, so devices see the servers' own certificates.
 * A connection that finds no backend up, or whose backend refuses it, is
 * closed at once (the device sees a network failure and tries again later).
 * Runs in threads of the test process: one accepting, one per open
 * connection (each polls with a timeout, so a stop ends it in 100 ms). */
#ifndef VELD_E2E_BALANCER_H
#define VELD_E2E_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#define TBAL_MAX_BACKENDS 4

struct tbal;

/* Start in front of n backends (all marked up), picking with `seed`. */
struct tbal *tbal_start(const uint16_t *ports, size_t n, uint32_t seed);
uint16_t tbal_port(const struct tbal *b);
/* Mark backend i up or down (new connections only). */
void tbal_set_up(struct tbal *b, size_t i, int up);
/* Connections handed to backend i so far. */
size_t tbal_count(struct tbal *b, size_t i);
/* Stop accepting, cut every connection, join the threads. */
void tbal_stop(struct tbal *b);

#endif
