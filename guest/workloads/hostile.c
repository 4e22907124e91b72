// SPDX-License-Identifier: MIT
/*
 * hostile: abuses the pv ABI on purpose, n=N times at least (default 10000):
 * crafted and random out-of-range, wrapping and misaligned addresses and
 * lengths, bad ring indices, unknown hook ids, hooks used before or without
 * negotiation, refused negotiations and renegotiation storms. Each abuse is
 * one error the host must count; the guest prints how many it committed and
 * checks every answer it can see. Exit 0 when every answer was an error.
 * flood=1 instead negotiates a 64-entry console ring of descriptors that
 * each cover all free RAM, rings once and spins until the host asks it to
 * stop.
 */
#include "guest/guest.h"

static uint64_t abuses, unexpected, seed = 0x1234567;
static struct pv_hook_page crafted __attribute__((aligned(4096)));
static uint8_t ring_area[4096] __attribute__((aligned(4096)));

static void expect(bool ok, const char *what)
{
	if (!ok) {
		unexpected++;
		if (unexpected < 10)
			guest_printf("hostile: unexpected answer to %s\n", what);
	}
}

/* A refused negotiation of a crafted hook page at pfn. */
static void bad_negotiation(uint32_t pfn, uint32_t want, const char *what)
{
	uint32_t reason;

	guest_outl(PV_PORT_NEGOTIATE, pfn);
	reason = guest_inl(PV_PORT_NEGOTIATE);
	abuses++;
	expect(reason == want, what);
}

static void craft(uint32_t version, uint64_t features)
{
	memset(&crafted, 0, sizeof(crafted));
	crafted.magic = PV_HOOK_MAGIC;
	crafted.abi_version = version;
	crafted.accepted = features;
	for (int i = 0; i < (int)PV_RING_COUNT; i++) {
		crafted.rings[i].gpa = (uint64_t)(uintptr_t)ring_area;
		crafted.rings[i].size = 8;
	}
	crafted.clock_gpa = (uint64_t)(uintptr_t)ring_area;
}

static void negotiation_abuse(void)
{
	uint32_t pfn = (uint32_t)((uintptr_t)&crafted >> 12);
	uint64_t mem_pages = guest_boot->mem_bytes >> 12;

	craft(PV_ABI_VERSION, PV_F(PV_HOOK_CONSOLE));
	bad_negotiation(1, PV_REASON_BAD_PAGE, "hook page in the system area");
	bad_negotiation((uint32_t)mem_pages + (uint32_t)(guest_rand(&seed) % 100000),
			PV_REASON_BAD_PAGE, "hook page beyond RAM");
	bad_negotiation(0xffffffffu, PV_REASON_BAD_PAGE, "hook page at the top");
	crafted.magic = 0xdeadbeef;
	bad_negotiation(pfn, PV_REASON_BAD_MAGIC, "bad magic");
	craft(0, PV_F(PV_HOOK_CONSOLE));
	bad_negotiation(pfn, PV_REASON_VERSION_OLD, "version 0");
	craft(PV_ABI_VERSION + 1 + (uint32_t)(guest_rand(&seed) % 1000), PV_F(PV_HOOK_CONSOLE));
	bad_negotiation(pfn, PV_REASON_VERSION_NEW, "version too new");
	craft(PV_ABI_VERSION, PV_F(5) | PV_F(PV_HOOK_CONSOLE));
	bad_negotiation(pfn, PV_REASON_FEATURES, "reserved feature bit");
	craft(PV_ABI_VERSION, 1ull << (6 + guest_rand(&seed) % 58));
	bad_negotiation(pfn, PV_REASON_FEATURES, "random unknown feature bit");
	craft(PV_ABI_VERSION, PV_F(PV_HOOK_CONSOLE));
	crafted.rings[PV_RING_CONSOLE].size = 3;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "ring size 3");
	crafted.rings[PV_RING_CONSOLE].size = 0;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "ring size 0");
	crafted.rings[PV_RING_CONSOLE].size = 2048;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "ring size 2048");
	crafted.rings[PV_RING_CONSOLE].size = 8;
	crafted.rings[PV_RING_CONSOLE].gpa += 8;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "misaligned ring");
	crafted.rings[PV_RING_CONSOLE].gpa = guest_boot->mem_bytes - 64;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "ring crossing the end of RAM");
	crafted.rings[PV_RING_CONSOLE].gpa = 0xffffffffffffffc0ull;
	bad_negotiation(pfn, PV_REASON_BAD_RING, "wrapping ring");
	craft(PV_ABI_VERSION, PV_F(PV_HOOK_CLOCK));
	crafted.clock_gpa = guest_boot->mem_bytes + 4096 * (guest_rand(&seed) % 1000);
	bad_negotiation(pfn, PV_REASON_BAD_CLOCK, "clock page beyond RAM");
	crafted.clock_gpa = (uint64_t)(uintptr_t)&crafted;
	bad_negotiation(pfn, PV_REASON_BAD_CLOCK, "clock page on the hook page");
}

/* A random buffer that is invalid by construction. */
static void bad_buffer(uint64_t *addr, uint32_t *len)
{
	uint64_t mem = guest_boot->mem_bytes, r = guest_rand(&seed);

	switch (r % 5) {
	case 0: /* beyond RAM */
		*addr = mem + (guest_rand(&seed) % (1ull << 40));
		*len = 1 + (uint32_t)(r >> 40) % 4096;
		break;
	case 1: /* wrapping */
		*addr = ~0ull - (guest_rand(&seed) % 4096);
		*len = 8192;
		break;
	case 2: /* crossing the end of RAM */
		*addr = mem - 16;
		*len = 32 + (uint32_t)(r >> 40) % 4096;
		break;
	case 3: /* the system area: page tables, IDT */
		*addr = 0x1000 + (guest_rand(&seed) % 0x1f0000);
		*len = 16;
		break;
	default: /* zero length */
		*addr = guest_boot->free_start;
		*len = 0;
		break;
	}
}

static void ring_abuse(uint32_t hook, uint32_t ring_id, bool block)
{
	struct guest_ring *r = guest_ring(ring_id);
	uint32_t first = r->hdr->prod, n = r->size;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr;
		uint32_t len;
		uint16_t op = PV_OP_WRITE;
		uint64_t sector = 0;

		bad_buffer(&addr, &len);
		if (block && i % 4 == 1) { /* valid buffer, sector beyond the disk */
			addr = guest_boot->free_start;
			len = PV_SECTOR_SIZE;
			sector = guest_boot->disk_sectors + guest_rand(&seed) % 1000;
		} else if (block && i % 4 == 2) { /* valid buffer, length not in sectors */
			addr = guest_boot->free_start;
			len = 513;
		} else if (i % 4 == 3) { /* valid buffer, unknown op */
			addr = guest_boot->free_start;
			len = 64;
			op = (uint16_t)(3 + guest_rand(&seed) % 1000);
		}
		guest_ring_post(r, addr, len, op, sector);
	}
	guest_pv_kick(hook);
	guest_ring_wait(r);
	for (uint32_t i = first; i != r->hdr->prod; i++) {
		abuses++;
		expect(r->desc[i & (r->size - 1)].status > PV_ST_OK, "bad descriptor");
	}
}

static void index_abuse(uint32_t hook, uint32_t ring_id)
{
	struct guest_ring *r = guest_ring(ring_id);
	uint32_t cons = r->hdr->cons;

	r->hdr->prod = cons + r->size + 1 + (uint32_t)(guest_rand(&seed) % 0x7fffffff);
	guest_pv_kick(hook);
	abuses++;
	expect(guest_hp->hook_error[hook] == PV_ST_BAD_INDEX, "bad ring index");
	expect(r->hdr->cons == cons, "bad ring index moved cons");
	r->hdr->prod = cons;
}

static void doorbell_abuse(void)
{
	for (int i = 0; i < 4; i++) {
		guest_outl(PV_PORT_DOORBELL,
			   PV_HOOK_COUNT + (uint32_t)(guest_rand(&seed) % 100000));
		abuses++;
	}
	guest_outl(PV_PORT_DOORBELL, 0xffffffffu);
	abuses++;
	guest_outb(PV_PORT_DOORBELL, PV_HOOK_CONSOLE); /* wrong width */
	abuses++;
	expect(guest_inl(PV_PORT_DOORBELL) == 0xffffffffu, "doorbell read");
	abuses++;
}

static uint64_t round_abuse(uint64_t features)
{
	uint32_t reason;

	negotiation_abuse();
	reason = guest_pv_negotiate(features, PV_ABI_VERSION);
	expect(reason == PV_REASON_OK, "valid negotiation");
	if (reason)
		return 0;
	/* a renegotiation storm: negotiating again without a reset is refused,
	 * a reset and a fresh negotiation are fine */
	for (int k = 0; k < 16; k++) {
		bad_negotiation((uint32_t)((uintptr_t)guest_hp >> 12), PV_REASON_ALREADY,
				"double negotiation");
		if (k % 4 == 3) {
			guest_pv_reset();
			reason = guest_pv_negotiate(features, PV_ABI_VERSION);
			expect(reason == PV_REASON_OK, "renegotiation after reset");
			if (reason)
				return 0;
		}
	}
	for (int k = 0; k < 4; k++)
		ring_abuse(PV_HOOK_CONSOLE, PV_RING_CONSOLE, false);
	if (features & PV_F(PV_HOOK_BLOCK))
		ring_abuse(PV_HOOK_BLOCK, PV_RING_BLOCK, true);
	ring_abuse(PV_HOOK_AGENT, PV_RING_AGENT_TX, false);
	index_abuse(PV_HOOK_CONSOLE, PV_RING_CONSOLE);
	if (features & PV_F(PV_HOOK_BLOCK))
		index_abuse(PV_HOOK_BLOCK, PV_RING_BLOCK);
	/* the clock hook has no doorbell */
	guest_pv_kick(PV_HOOK_CLOCK);
	abuses++;
	expect(guest_hp->hook_error[PV_HOOK_CLOCK] == PV_ST_BAD_OP, "clock doorbell");
	doorbell_abuse();
	guest_pv_reset();
	return abuses;
}

/* A hook the host offers but the guest did not accept: error status. */
static void unnegotiated_abuse(void)
{
	uint32_t reason = guest_pv_negotiate(PV_F(PV_HOOK_CLOCK), PV_ABI_VERSION);

	expect(reason == PV_REASON_OK, "clock-only negotiation");
	if (reason)
		return;
	guest_pv_kick(PV_HOOK_CONSOLE);
	abuses++;
	expect(guest_hp->hook_error[PV_HOOK_CONSOLE] == PV_ST_NOT_NEGOTIATED,
	       "console without negotiation");
	guest_pv_kick(PV_HOOK_HALT);
	abuses++;
	expect(guest_hp->hook_error[PV_HOOK_HALT] == PV_ST_NOT_NEGOTIATED,
	       "halt without negotiation");
	guest_pv_reset();
}

#define FLOOD_DESCS 64u

/* One doorbell: a ring of descriptors that each cover all free RAM. */
static int console_flood(void)
{
	uint64_t ring = guest_boot->free_start;
	uint64_t buf = ring + sizeof(struct pv_ring_hdr) + FLOOD_DESCS * sizeof(struct pv_desc);
	volatile struct pv_ring_hdr *hdr = (volatile struct pv_ring_hdr *)(uintptr_t)ring;
	volatile struct pv_desc *desc = (volatile struct pv_desc *)(hdr + 1);
	uint32_t len = (uint32_t)(guest_boot->free_end - buf);

	craft(PV_ABI_VERSION, PV_F(PV_HOOK_CONSOLE));
	crafted.rings[PV_RING_CONSOLE].gpa = ring;
	crafted.rings[PV_RING_CONSOLE].size = FLOOD_DESCS;
	guest_outl(PV_PORT_NEGOTIATE, (uint32_t)((uintptr_t)&crafted >> 12));
	if (guest_inl(PV_PORT_NEGOTIATE) != PV_REASON_OK)
		return 3;
	for (uint32_t i = 0; i < FLOOD_DESCS; i++) {
		desc[i].addr = buf;
		desc[i].len = len;
		desc[i].op = PV_OP_WRITE;
		desc[i].status = PV_ST_PENDING;
	}
	hdr->prod = FLOOD_DESCS;
	guest_outl(PV_PORT_DOORBELL, PV_HOOK_CONSOLE);
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP))
		;
	/* straight out: guest_poweroff would wait for the flood to drain */
	guest_outl(PV_PORT_POWEROFF, 0);
	for (;;)
		;
}

int guest_main(void)
{
	uint64_t target = guest_arg_u64("n", 10000);
	uint64_t features =
	    guest_boot->offered & (PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_BLOCK) |
				   PV_F(PV_HOOK_AGENT) | PV_F(PV_HOOK_CLOCK) | PV_F(PV_HOOK_HALT));

	if (guest_arg_u64("flood", 0))
		return console_flood();
	seed ^= guest_arg_u64("seed", 1);
	if ((features & (PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT))) !=
	    (PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT))) {
		guest_printf("hostile: needs the console and agent hooks offered\n");
		return 3;
	}
	while (abuses < target && !unexpected)
		if (!round_abuse(features))
			break;
	unnegotiated_abuse();
	/* before any negotiation: doorbells of every hook, served or not */
	for (uint32_t h = 0; h < PV_HOOK_COUNT; h++) {
		guest_outl(PV_PORT_DOORBELL, h);
		abuses++;
	}
	guest_printf("hostile: abuses=%lu unexpected=%lu\n", abuses, unexpected);
	return unexpected ? 8 : 0;
}
