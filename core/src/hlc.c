/* hlc.c - hybrid logical clock. */
#include "hlc.h"

#include <time.h>

uint64_t veld__hlc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t veld__hlc_tick(uint64_t last, uint64_t now_ms)
{
	uint64_t wall = now_ms << 16;
	/* Past the wall clock (or a 16-bit counter overflow), keep counting:
	 * the counter carries into the millisecond field, which stays ordered. */
	return wall > last ? wall : last + 1;
}

uint64_t veld__hlc_recv(uint64_t last, uint64_t remote, uint64_t now_ms)
{
	uint64_t m = last > remote ? last : remote;
	return veld__hlc_tick(m, now_ms);
}
