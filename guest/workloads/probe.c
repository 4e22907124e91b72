// SPDX-License-Identifier: MIT
/*
 * probe: how quickly its host serves it. ops=N (default 1000) short
 * operations, each a 32-byte console line written and flushed (the pv ring
 * waited for, or the UART's exits), timed one by one with the stopwatch and
 * spaced by gap_us (default 2000) of halt, so each op finds the host as its
 * other guests leave it. Then the agent counters probe_ops, probe_p50_ns and
 * probe_p99_ns (nearest rank), and it idles until the host's graceful stop.
 */
#include "guest/guest.h"

GUEST_AGENT("probe");

#define OPS_MAX 4096

static uint64_t lat[OPS_MAX];

static void sort(uint64_t *v, uint64_t n)
{
	for (uint64_t i = 1; i < n; i++) {
		uint64_t x = v[i], j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The nearest-rank percentile p (of 100) of the sorted v. */
static uint64_t rank(const uint64_t *v, uint64_t n, uint64_t p)
{
	uint64_t r = (p * n + 99) / 100;

	return v[r ? r - 1 : 0];
}

int guest_main(void)
{
	uint64_t ops = guest_arg_u64("ops", 1000);
	uint32_t gap = (uint32_t)guest_arg_u64("gap_us", 2000);
	char line[33];

	if (!ops || ops > OPS_MAX) {
		guest_printf("probe: ops is 1 to %u\n", OPS_MAX);
		return 2;
	}
	if (guest_pv &&
	    guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK) | PV_F(PV_HOOK_HALT)))
		return 1;
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t t0;

		guest_snprintf(line, sizeof(line), "probe %025lu\n", i);
		guest_halt(gap);
		t0 = guest_stopwatch_ns();
		guest_console_write(line, 32);
		guest_console_flush();
		lat[i] = guest_stopwatch_ns() - t0;
		guest_agent_tick();
	}
	sort(lat, ops);
	guest_agent_counter("probe_ops", ops);
	guest_agent_counter("probe_p50_ns", rank(lat, ops, 50));
	guest_agent_counter("probe_p99_ns", rank(lat, ops, 99));
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP)) {
		guest_halt(10000);
		guest_agent_tick();
	}
	return 0;
}
