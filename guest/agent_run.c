// SPDX-License-Identifier: MIT
/*
 * The guest agent as an SDK service: agent/'s state machine over the
 * agent-channel hook. A workload that names itself with GUEST_AGENT(name)
 * runs it whenever guest_pv_init negotiated the agent hook: hello and the
 * negotiation result at start, then reports (per-hook calls, rdtsc cycles,
 * bytes and errors counted by the SDK's services, plus workload counters)
 * and heartbeats, answering the host's requests. The SDK polls it from its
 * services when a frame is due (an rdtsc compare otherwise) and the workload
 * may poll between batches; the final report and BYE go out at power-off.
 */
#include "agent/agent.h"
#include "guest/guest.h"

#define START_WAIT_NS	   20000000ull /* for the host's SYNC at start */
#define REQUEST_LATENCY_NS 50000000ull /* host requests wait at most this */
#define FINISH_POLLS	   1000

const struct pv_clock_page *guest_clock_page(void);
uint64_t guest_clock_cycles(void);

__attribute__((weak)) const char guest_agent_name[] = "";
uint64_t guest_agent_due_tsc;
struct guest_hook_count guest_hook_counts[PV_HOOK_COUNT];

static struct agent_sm sm;
static struct agent_stats stats;
static uint8_t buf[2 * AGENT_FRAME_MAX] __attribute__((aligned(64)));
static bool running, shutdown_asked;

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

static void fill_report(void *ctx, struct agent_report *r)
{
	struct guest_hook_count *c = guest_hook_counts;

	(void)ctx;
	if (guest_hp) {
		c[PV_HOOK_CLOCK].calls = guest_hp->clock_reads;
		c[PV_HOOK_CLOCK].cycles = guest_clock_cycles();
	}
	agent_stats_counter(&stats, "console_bytes", c[PV_HOOK_CONSOLE].bytes);
	if (c[PV_HOOK_BLOCK].calls) {
		agent_stats_counter(&stats, "block_bytes_written", guest_block_bytes_written);
		agent_stats_counter(&stats, "block_bytes_read", guest_block_bytes_read);
	}
	agent_stats_fill(&stats, r);
	r->nhooks = 0;
	for (uint8_t h = 0; h < PV_HOOK_COUNT && r->nhooks < AGENT_REPORT_HOOKS; h++) {
		if (!c[h].calls)
			continue;
		r->hooks[r->nhooks++] = (struct agent_hook_stats){.hook = h,
								  .calls = c[h].calls,
								  .cycles = c[h].cycles,
								  .bytes = c[h].bytes,
								  .errors = c[h].errors};
	}
}

static void negotiation(struct agent_negotiation *n)
{
	uint32_t offered = (uint32_t)guest_boot->offered;
	uint32_t accepted = guest_hp ? (uint32_t)guest_hp->negotiated & offered : 0;

	memset(n, 0, sizeof(*n));
	n->pv_abi_version = PV_ABI_VERSION;
	n->status = AGENT_NEG_ACCEPTED;
	n->offered = offered;
	n->accepted = accepted;
	for (uint8_t h = 0; h < 32; h++)
		if ((offered & ~accepted) & (1u << h))
			n->refused[n->nrefused++] =
			    (struct agent_refused){h, AGENT_REFUSE_NOT_NEEDED};
}

/* ns from now in TSC ticks, by the clock page's calibration */
static uint64_t tsc_after(uint64_t ns)
{
	return guest_rdtsc() + ns * guest_clock_page()->tsc_khz / 1000000;
}

static void schedule(uint64_t now)
{
	uint64_t next = agent_sm_next_deadline(&sm);
	uint64_t wait = next > now ? next - now : 0;

	if (wait > REQUEST_LATENCY_NS)
		wait = REQUEST_LATENCY_NS;
	guest_agent_due_tsc = tsc_after(wait);
}

static uint32_t step(void)
{
	struct agent_negotiation n;
	uint64_t now = guest_time_ns();
	uint32_t ev;

	if (agent_sm_poll(&sm, recv_fn, send_fn, NULL, now, buf, sizeof(buf))) {
		running = false; /* the channel is gone: go on without the agent */
		guest_agent_due_tsc = 0;
		return 0;
	}
	ev = agent_sm_events(&sm);
	if (ev & AGENT_EV_RENEGOTIATE) {
		/* the hooks stay as negotiated (a reset mid-workload would drop
		 * queued I/O); the agent reports the standing result again */
		negotiation(&n);
		agent_sm_set_negotiation(&sm, &n);
	}
	if (ev & AGENT_EV_SHUTDOWN)
		shutdown_asked = true;
	if (agent_sm_done(&sm)) {
		running = false;
		guest_agent_due_tsc = 0;
		if (shutdown_asked)
			guest_poweroff(0);
		return ev;
	}
	schedule(now);
	return ev;
}

bool guest_agent_wanted(void)
{
	char flag[8];

	if (!guest_agent_name[0])
		return false;
	if (guest_arg("agent", flag, sizeof(flag)) < 0)
		return guest_pv;
	return guest_pv ? memcmp(flag, "off", 4) != 0 : memcmp(flag, "on", 3) == 0;
}

void guest_agent_start(void)
{
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_MICRO,
				      .interval_ms = (uint32_t)guest_arg_u64("agent_ms", 1000),
				      .heartbeat_ms = (uint32_t)guest_arg_u64("agent_ms", 1000),
				      .fill_report = fill_report};
	struct agent_negotiation n;
	char os[AGENT_OS_MAX + 1];
	uint64_t seed = guest_rdtsc(), end;

	if (running || !guest_agent_wanted() || !guest_hp ||
	    !(guest_hp->negotiated & PV_F(PV_HOOK_AGENT)) ||
	    !(guest_hp->negotiated & PV_F(PV_HOOK_CLOCK)))
		return;
	guest_snprintf(os, sizeof(os), "pvm-microguest %s", guest_agent_name);
	cfg.os = os;
	for (int i = 0; i < 16; i++)
		cfg.boot_id[i] = (uint8_t)guest_rand(&seed);
	if (cfg.interval_ms < AGENT_INTERVAL_MIN_MS || cfg.interval_ms > AGENT_INTERVAL_MAX_MS)
		cfg.interval_ms = cfg.heartbeat_ms = 1000;
	if (agent_sm_init(&sm, &cfg, guest_time_ns()))
		return;
	negotiation(&n);
	if (agent_sm_set_negotiation(&sm, &n))
		return;
	running = true;
	/* hello, negotiation and the host's SYNC before the workload starts, so
	 * the handshake's exits stay out of the work it measures */
	end = guest_time_ns() + START_WAIT_NS;
	while (running && !(step() & AGENT_EV_SYNC) && guest_time_ns() < end)
		guest_pause();
}

bool guest_agent_running(void)
{
	return running;
}

void guest_agent_poll(void)
{
	if (running)
		step();
}

bool guest_agent_shutdown_requested(void)
{
	return shutdown_asked;
}

void guest_agent_counter(const char *name, uint64_t value)
{
	agent_stats_counter(&stats, name, value);
}

void guest_agent_finish(void)
{
	if (!running)
		return;
	guest_console_flush();
	if (!shutdown_asked)
		agent_sm_bye(&sm);
	for (int i = 0; i < FINISH_POLLS && running && !agent_sm_done(&sm); i++)
		step();
	running = false;
	guest_agent_due_tsc = 0;
}
