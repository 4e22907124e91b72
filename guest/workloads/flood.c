// SPDX-License-Identifier: MIT
/*
 * flood: a guest whose agent channel carries garbage. Its agent starts as
 * usual, then kib=N KiB go out as fast as the ring takes them: random bytes,
 * frames with a broken checksum, frames of a future protocol version and
 * frames cut short. Then the agent runs on for linger_ms=M ms, so the host
 * can be seen to resynchronise, and the final report and BYE follow.
 */
#include "agent/agent.h"
#include "guest/guest.h"

GUEST_AGENT("flood");

static uint8_t chunk[1024];

/* One chunk of garbage of kind k (0..3). */
static void garbage(unsigned int k, uint64_t *seed)
{
	struct agent_msg m = {.type = AGENT_T_HEARTBEAT, .seq = 1};
	int n;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)guest_rand(seed);
	if (k == 0)
		return;
	/* whole frames packed into the chunk, each spoilt in one way */
	for (size_t off = 0; off + AGENT_HDR_SIZE + 16 <= sizeof(chunk); off += (size_t)n) {
		n = agent_encode(&m, chunk + off, sizeof(chunk) - off);
		if (n <= 0)
			return;
		if (k == 1)
			chunk[off + n - 1] ^= 0x5a; /* payload byte: checksum mismatch */
		else if (k == 2)
			chunk[off + 4] = 2; /* header version 2 */
		else
			n -= 5; /* cut short: the next frame's magic lands inside it */
	}
}

int guest_main(void)
{
	uint64_t kib = guest_arg_u64("kib", 1024), linger_ms = guest_arg_u64("linger_ms", 0);
	uint64_t seed = 0x1234567, end;

	if (!guest_pv || guest_pv_init(PV_F(PV_HOOK_CONSOLE)))
		return 1;
	if (!guest_agent_running()) {
		guest_printf("flood: needs the agent and clock hooks\n");
		return 2;
	}
	for (uint64_t i = 0; i < kib; i++) {
		garbage((unsigned int)(i % 4), &seed);
		if (guest_agent_send(chunk, sizeof(chunk)))
			return 3;
	}
	guest_agent_counter("garbage_kib", kib);
	end = guest_time_ns() + linger_ms * 1000000;
	while (guest_time_ns() < end && !guest_agent_shutdown_requested()) {
		guest_agent_poll();
		guest_halt(10000);
	}
	guest_printf("flood: %lu KiB of garbage sent\n", kib);
	return 0;
}
