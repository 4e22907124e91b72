// SPDX-License-Identifier: MIT
/* Time: the clock page (no exit) or the PIT twin (three exits a read). */
#include "guest/guest.h"

const struct pv_clock_page *guest_clock_page(void);

#define PIT_HZ 1193182ull

static uint64_t pit_ticks;
static uint16_t pit_last;
static bool pit_started;

/* The PIT counts down 16 bits at 1.193182 MHz; reads closer than its 55 ms
 * period extend it to 64 bits. */
static uint64_t time_pit(void)
{
	uint16_t now;

	guest_outb(PV_PORT_PIT_CMD, 0x00); /* latch channel 0 */
	now = guest_inb(PV_PORT_PIT_CH0);
	now |= (uint16_t)(guest_inb(PV_PORT_PIT_CH0) << 8);
	if (pit_started)
		pit_ticks += (uint16_t)(pit_last - now);
	pit_started = true;
	pit_last = now;
	return pit_ticks / PIT_HZ * 1000000000ull + pit_ticks % PIT_HZ * 1000000000ull / PIT_HZ;
}

static uint64_t page_cycles; /* rdtsc cycles reading the clock page, sampled */

uint64_t guest_clock_cycles(void);

uint64_t guest_clock_cycles(void)
{
	return page_cycles;
}

static uint64_t time_page(void)
{
	const volatile struct pv_clock_page *cp = guest_clock_page();
	uint32_t seq;
	uint64_t ns, tsc, reads = guest_hp->clock_reads;

	do {
		seq = cp->seq;
		guest_barrier();
		tsc = guest_rdtsc();
		uint64_t d = tsc - cp->tsc_base;

		ns = cp->ns_base + (uint64_t)(((unsigned __int128)d * cp->mul) >> cp->shift);
		guest_barrier();
	} while ((seq & 1) || seq != cp->seq);
	guest_hp->clock_reads = reads + 1;
	/* one read in 64 measured and scaled (see guest.h) */
	if (!(reads & 63))
		page_cycles += (guest_rdtsc() - tsc) * 64;
	return ns;
}

static bool page_on(void)
{
	return guest_hp && (guest_hp->negotiated & PV_F(PV_HOOK_CLOCK));
}

uint64_t guest_time_ns(void)
{
	return guest_pv && page_on() ? time_page() : time_pit();
}

uint64_t guest_stopwatch_ns(void)
{
	return page_on() ? time_page() : time_pit();
}
