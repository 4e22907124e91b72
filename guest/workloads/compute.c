// SPDX-License-Identifier: MIT
/*
 * compute: a CPU loop with no I/O; reports its own duration. iters=N
 * Time is read between chunks of GUEST_COMPUTE_CHUNK iterations (~2 ms) so
 * the emulated PIT, which wraps every 55 ms, never misses a wrap.
 */
#include "guest/compute_loop.h"
#include "guest/guest.h"

GUEST_AGENT("compute");

int guest_main(void)
{
	uint64_t iters = guest_arg_u64("iters", 10000000);
	uint64_t x = GUEST_COMPUTE_SEED, r = 0, t0, t1;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	t0 = t1 = guest_time_ns();
	for (uint64_t done = 0; done < iters; done += GUEST_COMPUTE_CHUNK) {
		uint64_t n =
		    iters - done < GUEST_COMPUTE_CHUNK ? iters - done : GUEST_COMPUTE_CHUNK;

		r += guest_compute_loop(&x, n);
		t1 = guest_time_ns();
		guest_agent_counter("compute_iters", done + n);
		guest_agent_tick();
	}
	guest_work_report(t1 - t0);
	guest_printf("compute: iters=%lu result=%lx ns=%lu\n", iters, r, t1 - t0);
	return 0;
}
