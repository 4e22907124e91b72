// SPDX-License-Identifier: MIT
/* Entry, power-off and the console (pv ring or the 8250 twin). */
#include "guest/guest.h"

const volatile struct pv_boot_info *guest_boot;
bool guest_pv;

#define CON_CHUNK 4096u

static char con_buf[8][CON_CHUNK] __attribute__((aligned(4096)));
static size_t con_len;
static unsigned int con_slot;

__attribute__((weak)) void guest_secondary(unsigned int vcpu)
{
	(void)vcpu;
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP))
		guest_pause();
}

void guest_poweroff(uint32_t code)
{
	guest_agent_finish();
	guest_console_flush();
	for (;;)
		guest_outl(PV_PORT_POWEROFF, code);
}

void guest_start(const struct pv_boot_info *bi, unsigned long vcpu);

void guest_start(const struct pv_boot_info *bi, unsigned long vcpu)
{
	char mode[16];

	guest_boot = bi;
	if (vcpu) {
		guest_secondary((unsigned int)vcpu);
		for (;;)
			guest_pause();
	}
	if (bi->magic != PV_BOOT_MAGIC)
		guest_poweroff(125);
	guest_pv = guest_arg("mode", mode, sizeof(mode)) == 0 && memcmp(mode, "pv", 3) == 0;
	/* An emulated guest may still measure with the clock page (timer=page)
	 * and report through the agent (agent=on): those hooks alone. */
	if (!guest_pv &&
	    ((guest_arg("timer", mode, sizeof(mode)) == 0 && memcmp(mode, "page", 5) == 0) ||
	     guest_agent_wanted()) &&
	    guest_pv_init(PV_F(PV_HOOK_CLOCK)))
		guest_poweroff(1);
	guest_poweroff((uint32_t)guest_main());
}

/*
 * One descriptor and one doorbell per 4 KiB chunk, without waiting: the
 * host serves the ring asynchronously while the guest fills the next chunk.
 * Chunk k reuses the buffer of the descriptor posted 8 before it, so a new
 * chunk starts only when the ring (of 8) has room, i.e. that one is done.
 */
static void con_post(void)
{
	struct guest_ring *r = guest_ring(PV_RING_CONSOLE);
	uint64_t t0 = guest_rdtsc();
	uint32_t spins = 0;

	guest_ring_post(r, (uint64_t)(uintptr_t)con_buf[con_slot], (uint32_t)con_len, PV_OP_WRITE,
			0);
	guest_pv_notify(PV_HOOK_CONSOLE);
	con_slot = (con_slot + 1) % 8;
	con_len = 0;
	while (r->hdr->prod - r->hdr->cons >= r->size)
		guest_pv_relax(&spins);
	guest_hook_counts[PV_HOOK_CONSOLE].cycles += guest_rdtsc() - t0;
	guest_agent_tick();
}

static void con_flush_pv(void)
{
	uint64_t t0;

	if (con_len)
		con_post();
	t0 = guest_rdtsc();
	guest_ring_wait(guest_ring(PV_RING_CONSOLE));
	guest_hook_counts[PV_HOOK_CONSOLE].cycles += guest_rdtsc() - t0;
}

void guest_console_write(const void *buf, size_t len)
{
	const char *p = buf;

	if (!guest_hp || !(guest_hp->negotiated & PV_F(PV_HOOK_CONSOLE))) {
		for (size_t i = 0; i < len; i++)
			guest_outb(PV_PORT_COM1, (uint8_t)p[i]);
		return;
	}
	guest_hook_counts[PV_HOOK_CONSOLE].calls++;
	guest_hook_counts[PV_HOOK_CONSOLE].bytes += len;
	while (len) {
		size_t n = CON_CHUNK - con_len;

		if (n > len)
			n = len;
		memcpy(con_buf[con_slot] + con_len, p, n);
		con_len += n;
		p += n;
		len -= n;
		if (con_len == CON_CHUNK)
			con_post();
	}
}

void guest_console_flush(void)
{
	if (guest_hp && (guest_hp->negotiated & PV_F(PV_HOOK_CONSOLE)))
		con_flush_pv();
}
