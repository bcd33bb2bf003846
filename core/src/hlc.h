/* hlc.h - hybrid logical clock (private).
 * A stamp is 64 bits: milliseconds since the Unix epoch in the high 48 bits,
 * a logical counter in the low 16. Stamps from one device strictly increase;
 * ties between devices are broken by device id (see op.h). */
#ifndef VELD_HLC_H
#define VELD_HLC_H
#include <stdint.h>

uint64_t veld__hlc_now_ms(void);
/* Next local stamp after `last`, given wall-clock `now_ms`. */
uint64_t veld__hlc_tick(uint64_t last, uint64_t now_ms);
/* Merge a received stamp so local stamps stay ahead of everything seen. */
uint64_t veld__hlc_recv(uint64_t last, uint64_t remote, uint64_t now_ms);
static inline uint64_t veld__hlc_ms(uint64_t hlc) { return hlc >> 16; }
#endif
