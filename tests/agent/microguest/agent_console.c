// SPDX-License-Identifier: MIT
/*
 * agent-console: a microguest that writes bytes=N bytes to the console hook
 * while running the agent over the agent-channel hook, counting every
 * console call (rdtsc cycles, bytes) for its reports. With linger_ms=M it
 * then keeps serving the agent (reports, heartbeats, host requests) for up
 * to M ms or until the host asks it to shut down. It ends with a final
 * report and BYE, so the host can check the reported counts against what
 * the VMM and the console saw.
 */
#include "agent/agent.h"
#include "guest/guest.h"

#define POLL_EVERY 16 /* console writes between agent polls */

static struct agent_sm sm;
static struct agent_stats stats;
static uint8_t buf[2 * AGENT_FRAME_MAX];

static size_t recv_fn(void *ctx, void *b, size_t cap)
{
	(void)ctx;
	return guest_agent_recv(b, cap);
}

static int send_fn(void *ctx, const void *b, size_t len)
{
	(void)ctx;
	return guest_agent_send(b, len);
}

static void negotiation(struct agent_negotiation *n)
{
	uint32_t offered = (uint32_t)guest_boot->offered;
	uint32_t accepted = (uint32_t)guest_hp->negotiated;

	memset(n, 0, sizeof(*n));
	n->pv_abi_version = PV_ABI_VERSION;
	n->status = AGENT_NEG_ACCEPTED;
	n->offered = offered;
	n->accepted = accepted & offered;
	for (uint8_t h = 0; h < 32; h++)
		if ((offered & ~accepted) & (1u << h))
			n->refused[n->nrefused++] =
			    (struct agent_refused){h, AGENT_REFUSE_NOT_NEEDED};
}

static int poll_agent(void)
{
	struct agent_negotiation n;
	uint32_t ev;

	if (agent_sm_poll(&sm, recv_fn, send_fn, NULL, guest_time_ns(), buf, sizeof(buf)))
		return -1;
	ev = agent_sm_events(&sm);
	if (ev & AGENT_EV_RENEGOTIATE) {
		negotiation(&n);
		agent_sm_set_negotiation(&sm, &n);
	}
	return 0;
}

int guest_main(void)
{
	uint64_t bytes = guest_arg_u64("bytes", 65536), n = 0, seed = guest_rdtsc();
	uint64_t linger_ms = guest_arg_u64("linger_ms", 0), linger_end;
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_MICRO,
				      .os = "pvm-microguest agent-console",
				      .interval_ms = 100,
				      .heartbeat_ms = 100,
				      .fill_report = agent_stats_fill,
				      .ctx = &stats};
	struct agent_negotiation neg;
	char line[64];

	if (!guest_pv ||
	    guest_pv_init(PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK) | PV_F(PV_HOOK_AGENT)))
		return 1;
	for (int i = 0; i < 16; i++)
		cfg.boot_id[i] = (uint8_t)guest_rand(&seed);
	if (agent_sm_init(&sm, &cfg, guest_time_ns()))
		return 2;
	negotiation(&neg);
	if (agent_sm_set_negotiation(&sm, &neg))
		return 3;
	for (uint64_t i = 0; n < bytes; i++) {
		int len = guest_snprintf(line, sizeof(line),
					 "line %08lu abcdefghijklmnopqrstuvwxyz\n", i);
		uint64_t t0;

		if ((uint64_t)len > bytes - n) {
			len = (int)(bytes - n);
			line[len - 1] = '\n';
		}
		t0 = agent_rdtsc();
		guest_console_write(line, (size_t)len);
		agent_stats_hook(&stats, PV_HOOK_CONSOLE, agent_rdtsc() - t0, (uint64_t)len, false);
		n += (uint64_t)len;
		agent_stats_counter(&stats, "console_bytes", n);
		if (i % POLL_EVERY == 0 && poll_agent())
			return 4;
	}
	guest_console_flush();
	agent_stats_counter(&stats, "console_lines", stats.hooks[0].calls);
	linger_end = guest_time_ns() + linger_ms * 1000000;
	while (!agent_sm_done(&sm) && guest_time_ns() < linger_end) {
		if (poll_agent())
			return 4;
		guest_pause();
	}
	agent_sm_bye(&sm);
	for (int i = 0; i < 1000 && !agent_sm_done(&sm); i++)
		if (poll_agent())
			return 4;
	return agent_sm_done(&sm) ? 0 : 5;
}
