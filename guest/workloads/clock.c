// SPDX-License-Identifier: MIT
/*
 * clock: reads=N time reads, each no earlier than the one before. lie=M
 * then claims M reads in the hook page's informational counter: a guest
 * making itself look clock-heavy (the host must not take its word).
 */
#include "guest/guest.h"

GUEST_AGENT("clock");

int guest_main(void)
{
	uint64_t reads = guest_arg_u64("reads", 1000);
	uint64_t first, prev, now = 0;

	if (guest_pv && guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK)))
		return 1;
	uint64_t t0 = guest_stopwatch_ns();

	first = prev = guest_time_ns();
	for (uint64_t i = 1; i < reads; i++) {
		now = guest_time_ns();
		if (now < prev) {
			guest_printf("clock: went backwards at read %lu\n", i);
			return 6;
		}
		prev = now;
	}
	guest_work_report(guest_stopwatch_ns() - t0);
	if (guest_arg_u64("lie", 0) && guest_hp)
		guest_hp->clock_reads = guest_arg_u64("lie", 0);
	guest_agent_counter("clock_reads", reads);
	/* fixed width: the same console bytes (and exits) whatever the figures */
	guest_printf("clock: %lu reads monotonic over %012lu ns\n", reads, prev - first);
	return 0;
}
