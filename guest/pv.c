// SPDX-License-Identifier: MIT
/* Negotiation, the hook page and the descriptor rings (pv ABI v1). */
#include "guest/guest.h"

struct pv_hook_page *guest_hp;

static struct pv_hook_page hook_page __attribute__((aligned(4096)));
static struct pv_clock_page clock_page __attribute__((aligned(4096)));

#define RING_BYTES(n) (sizeof(struct pv_ring_hdr) + (n) * sizeof(struct pv_desc))
static const uint32_t ring_sizes[PV_RING_COUNT] = {8, 64, 8, 8};
static uint8_t ring_mem[PV_RING_COUNT][RING_BYTES(64)] __attribute__((aligned(4096)));
static struct guest_ring rings[PV_RING_COUNT];

struct guest_ring *guest_ring(uint32_t ring)
{
	return &rings[ring];
}

const struct pv_clock_page *guest_clock_page(void);

const struct pv_clock_page *guest_clock_page(void)
{
	return &clock_page;
}

uint32_t guest_pv_negotiate(uint64_t features, uint32_t version)
{
	struct pv_hook_page *hp = &hook_page;
	uint32_t reason;

	memset(hp, 0, sizeof(*hp));
	hp->magic = PV_HOOK_MAGIC;
	hp->abi_version = version;
	hp->accepted = features;
	hp->clock_gpa = (uint64_t)(uintptr_t)&clock_page;
	for (uint32_t i = 0; i < PV_RING_COUNT; i++) {
		memset(ring_mem[i], 0, sizeof(ring_mem[i]));
		rings[i].hdr = (volatile struct pv_ring_hdr *)ring_mem[i];
		rings[i].desc =
		    (volatile struct pv_desc *)(ring_mem[i] + sizeof(struct pv_ring_hdr));
		rings[i].size = ring_sizes[i];
		hp->rings[i].gpa = (uint64_t)(uintptr_t)ring_mem[i];
		hp->rings[i].size = ring_sizes[i];
	}
	guest_barrier();
	guest_outl(PV_PORT_NEGOTIATE, (uint32_t)((uintptr_t)hp >> 12));
	reason = guest_inl(PV_PORT_NEGOTIATE);
	if (reason == PV_REASON_OK)
		guest_hp = hp;
	return reason;
}

int guest_pv_init(uint64_t features)
{
	uint32_t reason;

	if (guest_agent_wanted())
		features |= PV_F(PV_HOOK_AGENT) | PV_F(PV_HOOK_CLOCK);
	reason = guest_pv_negotiate(features & guest_boot->offered, PV_ABI_VERSION);
	if (reason != PV_REASON_OK) {
		guest_printf("pv: negotiation refused, reason %u\n", reason);
		return -1;
	}
	guest_agent_start();
	return 0;
}

void guest_pv_reset(void)
{
	guest_console_flush();
	guest_outl(PV_PORT_NEGOTIATE, 0);
	guest_hp = NULL;
}

/*
 * Spins a while (an I/O thread on another CPU answers within microseconds),
 * then gives the CPU away in a halt hint, which the host ends once it has
 * served a ring: where the host's CPUs are all busy, a spinning guest would
 * burn the time slice its I/O thread needs.
 */
/* Tens of microseconds of pauses; a halt short enough that one the host's
 * wake-up missed (served between the guest's check and its exit) costs
 * little. */
#define GUEST_RELAX_SPINS   1024
#define GUEST_RELAX_HALT_US 20

void guest_pv_relax(uint32_t *spins)
{
	if (++*spins < GUEST_RELAX_SPINS || !guest_hp ||
	    !(guest_hp->negotiated & PV_F(PV_HOOK_HALT))) {
		guest_pause();
		return;
	}
	*spins = 0;
	guest_halt(GUEST_RELAX_HALT_US);
}

void guest_pv_kick(uint32_t hook)
{
	volatile uint32_t *served = &hook_page.served[hook < 8 ? hook : 0];
	uint32_t old = *served, spins = 0;

	guest_outl(PV_PORT_DOORBELL, hook);
	/* the halt hook is answered in its exit: no halting while it waits */
	while (*served == old)
		if (hook == PV_HOOK_HALT)
			guest_pause();
		else
			guest_pv_relax(&spins);
}

void guest_pv_notify(uint32_t hook)
{
	guest_outl(PV_PORT_DOORBELL, hook);
}

volatile struct pv_desc *guest_ring_post(struct guest_ring *r, uint64_t addr, uint32_t len,
					 uint16_t op, uint64_t sector)
{
	uint32_t prod = r->hdr->prod, spins = 0;
	volatile struct pv_desc *d;

	while (prod - r->hdr->cons >= r->size)
		guest_pv_relax(&spins);
	d = &r->desc[prod & (r->size - 1)];
	d->addr = addr;
	d->len = len;
	d->op = op;
	d->status = PV_ST_PENDING;
	d->sector = sector;
	d->done = 0;
	guest_barrier();
	r->hdr->prod = prod + 1;
	return d;
}

void guest_ring_wait(struct guest_ring *r)
{
	uint32_t spins = 0;

	while (r->hdr->cons != r->hdr->prod)
		guest_pv_relax(&spins);
}

void guest_work_report(uint64_t ns)
{
	if (guest_hp)
		guest_hp->work_ns = ns;
}

void guest_halt(uint32_t us)
{
	if (guest_hp && (guest_hp->negotiated & PV_F(PV_HOOK_HALT))) {
		guest_hp->halt_us = us;
		guest_pv_kick(PV_HOOK_HALT);
		return;
	}
	uint64_t end = guest_time_ns() + (uint64_t)us * 1000;

	while (guest_time_ns() < end)
		guest_pause();
}
