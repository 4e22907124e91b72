// SPDX-License-Identifier: MIT
/*
 * steady: work of one kind, without end, for throughput under contention:
 * kind=console (64-byte lines; units are bytes), block (4 KiB written at a
 * rotating sector, read back and verified; units are KiB), clock (batches
 * of 64 monotonic reads; units are reads) or compute (the compute loop;
 * units are iterations). The units done so far are the agent counter
 * work_units, so a guest in emulated mode runs with agent=on (the agent
 * and clock hooks alone) to report them. Runs until the host's graceful
 * stop.
 */
#include "guest/compute_loop.h"
#include "guest/guest.h"

GUEST_AGENT("steady");

#define LINE	   64
#define BLOCK	   4096
#define CLOCK_RUN  64
#define SPAN_BLOCK 256 /* 4 KiB blocks the writes rotate over: 1 MiB */

static int kind_of(void)
{
	char k[16];

	if (guest_arg("kind", k, sizeof(k)) < 0)
		return -1;
	if (!memcmp(k, "console", 8))
		return 0;
	if (!memcmp(k, "block", 6))
		return 1;
	if (!memcmp(k, "clock", 6))
		return 2;
	if (!memcmp(k, "compute", 8))
		return 3;
	return -1;
}

/* One batch of kind k; the units it did, 0 on a failure. */
static uint64_t batch(int k, uint64_t n, uint64_t *state)
{
	static uint32_t wbuf[BLOCK / 4], rbuf[BLOCK / 4];
	char line[LINE + 1];
	uint64_t prev, now;

	switch (k) {
	case 0:
		guest_snprintf(line, sizeof(line),
			       "%012lu abcdefghijklmnopqrstuvwxyz0123456789+-*/ABCDEFGHIJ\n", n);
		guest_console_write(line, LINE);
		return LINE;
	case 1:
		for (unsigned int i = 0; i < BLOCK / 4; i++)
			wbuf[i] = (uint32_t)(n * 2654435761u + i);
		if (guest_block_rw(true, (n % SPAN_BLOCK) * (BLOCK / PV_SECTOR_SIZE), wbuf,
				   BLOCK) ||
		    guest_block_rw(false, (n % SPAN_BLOCK) * (BLOCK / PV_SECTOR_SIZE), rbuf,
				   BLOCK) ||
		    memcmp(wbuf, rbuf, BLOCK))
			return 0;
		return BLOCK / 1024;
	case 2:
		prev = guest_time_ns();
		for (int i = 1; i < CLOCK_RUN; i++) {
			now = guest_time_ns();
			if (now < prev)
				return 0;
			prev = now;
		}
		return CLOCK_RUN;
	default:
		guest_compute_loop(state, GUEST_COMPUTE_CHUNK / 16);
		return GUEST_COMPUTE_CHUNK / 16;
	}
}

int guest_main(void)
{
	int k = kind_of();
	uint64_t units = 0, x = GUEST_COMPUTE_SEED;

	if (k < 0) {
		guest_printf("steady: kind= console, block, clock or compute\n");
		return 2;
	}
	if (k == 1 && guest_boot->disk_sectors < SPAN_BLOCK * (BLOCK / PV_SECTOR_SIZE)) {
		guest_printf("steady: the disk is smaller than 1 MiB\n");
		return 3;
	}
	/* halt: waiting on a ring gives a busy host's CPU away (guest_pv_relax) */
	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_BLOCK) |
				      PV_F(PV_HOOK_CLOCK) | PV_F(PV_HOOK_HALT)))
		return 1;
	for (uint64_t n = 0; !(guest_boot->host_flags & PV_BOOT_F_STOP); n++) {
		uint64_t done = batch(k, n, &x);

		if (!done) {
			guest_printf("steady: batch %lu failed\n", n);
			return 4;
		}
		units += done;
		guest_agent_counter("work_units", units);
		guest_agent_tick();
	}
	guest_console_flush();
	return 0;
}
