// SPDX-License-Identifier: MIT
/*
 * The pv hook ABI's host side on plain guest memory: negotiation, the ring
 * walker, doorbells and the guest-address checks, driven through the
 * internal functions of hv/vm.h with no vCPU running and no /dev/kvm. Each
 * test builds a VM on the process platform (creating it starts no guest
 * process; only hv_vm_run would), plays the guest by writing hook pages,
 * rings and descriptors into vm->mem, and rings the ports through
 * hv_bus_io() as a vCPU exit would.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv/vm.h"
#include "vmm.h"

#define MEM_MIB 16
#define MEM	((uint64_t)MEM_MIB << 20)
#define RING_N	8u /* descriptors in every ring the tests post to */

/* Offsets from the first free page of RAM (the default hook page). */
#define OFF_CON	  0x1000ull  /* console ring */
#define OFF_BLK	  0x2000ull  /* block ring */
#define OFF_TX	  0x3000ull  /* agent tx ring */
#define OFF_RX	  0x4000ull  /* agent rx ring */
#define OFF_CLOCK 0x5000ull  /* clock page */
#define OFF_HP2	  0x6000ull  /* a second hook page */
#define OFF_BUF	  0x10000ull /* data buffers, a page each */

#define DISK_BYTES   (1u << 20)
#define DISK_SECTORS (DISK_BYTES / PV_SECTOR_SIZE)
#define DONE_UNSET   0xdeadbeefu /* what the tests' guest leaves in done */

struct fx {
	struct hv_vm *vm;
	int rd, wr;    /* console pipe; -1 when the console is elsewhere */
	uint64_t base; /* first free page of RAM: the hook page */
	char disk[4096];
};

enum { CON_PIPE = -2 };

static void fill_disk(const char *path)
{
	uint8_t sec[PV_SECTOR_SIZE];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	/* sector s holds bytes (s + i) & 0xff */
	for (uint32_t s = 0; s < DISK_SECTORS; s++) {
		for (uint32_t i = 0; i < PV_SECTOR_SIZE; i++)
			sec[i] = (uint8_t)(s + i);
		ck_assert_int_eq(pwrite(fd, sec, sizeof(sec), (off_t)s * PV_SECTOR_SIZE),
				 sizeof(sec));
	}
	close(fd);
}

/* console: CON_PIPE for a pipe the test reads, or an fd of the test's own. */
static void fx_open(struct fx *f, uint64_t offered, bool disk, int console, uint64_t limit)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	int p[2] = {-1, -1};

	memset(f, 0, sizeof(*f));
	f->rd = f->wr = -1;
	if (console == CON_PIPE) {
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
		f->rd = p[0];
		f->wr = p[1];
		console = p[1];
	}
	hv_config_init(&cfg);
	cfg.image = vmm_guest("bare");
	cfg.platform = HV_PLATFORM_PROCESS; /* created, never run: no guest process */
	cfg.mem_mib = MEM_MIB;
	cfg.offered = offered;
	cfg.console_fd = console;
	cfg.console_limit = limit;
	if (disk) {
		snprintf(f->disk, sizeof(f->disk), "%s", vmm_tmp("disk.img"));
		fill_disk(f->disk);
		cfg.disk = f->disk;
	}
	ck_assert_msg(hv_vm_create(&cfg, &f->vm, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(f->vm->mem_size, MEM);
	f->base = f->vm->boot->free_start;
	ck_assert_uint_ge(f->base, PV_IMAGE_MIN);
	ck_assert_uint_eq(f->base % PV_PAGE_SIZE, 0);
	ck_assert_uint_ge(f->vm->boot->free_end - f->base, 4ull << 20);
}

static void fx_close(struct fx *f)
{
	hv_vm_destroy(f->vm);
	if (f->rd >= 0)
		close(f->rd);
	if (f->wr >= 0)
		close(f->wr);
	if (f->disk[0])
		unlink(f->disk);
}

static void *g(struct fx *f, uint64_t gpa)
{
	return f->vm->mem + gpa;
}

static uint64_t buf_gpa(struct fx *f, unsigned int i)
{
	return f->base + OFF_BUF + (uint64_t)i * PV_PAGE_SIZE;
}

/* Copies s into buffer i; returns its GPA. */
static uint64_t put(struct fx *f, unsigned int i, const char *s)
{
	memcpy(g(f, buf_gpa(f, i)), s, strlen(s));
	return buf_gpa(f, i);
}

static struct pv_hook_page *hp_at(struct fx *f, uint64_t gpa)
{
	return g(f, gpa);
}

/* A fresh hook page at gpa: magic, version 1, the default rings and clock page. */
static struct pv_hook_page *hp_fill(struct fx *f, uint64_t gpa, uint64_t accepted)
{
	struct pv_hook_page *hp = hp_at(f, gpa);

	memset(hp, 0, PV_PAGE_SIZE);
	hp->magic = PV_HOOK_MAGIC;
	hp->abi_version = PV_ABI_VERSION;
	hp->accepted = accepted;
	hp->rings[PV_RING_CONSOLE] = (struct pv_ring_reg){f->base + OFF_CON, RING_N, 0};
	hp->rings[PV_RING_BLOCK] = (struct pv_ring_reg){f->base + OFF_BLK, RING_N, 0};
	hp->rings[PV_RING_AGENT_TX] = (struct pv_ring_reg){f->base + OFF_TX, RING_N, 0};
	hp->rings[PV_RING_AGENT_RX] = (struct pv_ring_reg){f->base + OFF_RX, RING_N, 0};
	hp->clock_gpa = f->base + OFF_CLOCK;
	return hp;
}

static uint32_t neg_in(struct fx *f)
{
	uint32_t v = 0x12345678;

	hv_bus_io(f->vm, PV_PORT_NEGOTIATE, false, (uint8_t *)&v, 4, 1);
	return v;
}

/* out PV_PORT_NEGOTIATE, pfn; returns what in PV_PORT_NEGOTIATE then reads. */
static uint32_t neg_pfn(struct fx *f, uint32_t pfn)
{
	hv_bus_io(f->vm, PV_PORT_NEGOTIATE, true, (uint8_t *)&pfn, 4, 1);
	return neg_in(f);
}

static uint32_t neg(struct fx *f, uint64_t gpa)
{
	return neg_pfn(f, (uint32_t)(gpa >> 12));
}

static void bell(struct fx *f, uint32_t hook)
{
	hv_bus_io(f->vm, PV_PORT_DOORBELL, true, (uint8_t *)&hook, 4, 1);
}

static struct pv_ring_hdr *hdr(struct fx *f, uint64_t ring)
{
	return g(f, ring);
}

static struct pv_desc *slot(struct fx *f, uint64_t ring, uint32_t idx)
{
	return (struct pv_desc *)(f->vm->mem + ring + sizeof(struct pv_ring_hdr)) + (idx % RING_N);
}

/* The guest's side of posting: fill desc[prod % size], then advance prod. */
static struct pv_desc *post(struct fx *f, uint64_t ring, uint64_t addr, uint32_t len, uint16_t op,
			    uint64_t sector)
{
	struct pv_ring_hdr *h = hdr(f, ring);
	struct pv_desc *d = slot(f, ring, h->prod);

	*d = (struct pv_desc){.addr = addr,
			      .len = len,
			      .op = op,
			      .status = PV_ST_PENDING,
			      .sector = sector,
			      .done = DONE_UNSET};
	h->prod++;
	return d;
}

static uint64_t con_ring(struct fx *f)
{
	return f->base + OFF_CON;
}

static uint64_t blk_ring(struct fx *f)
{
	return f->base + OFF_BLK;
}

/* Everything waiting in the console pipe (the hook writes before it returns). */
static size_t con_read(struct fx *f, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = read(f->rd, buf + n, cap - n);

		if (r <= 0) {
			ck_assert_msg(r < 0 && errno == EAGAIN, "console pipe: %s",
				      r < 0 ? strerror(errno) : "closed");
			break;
		}
		n += (size_t)r;
	}
	if (n < cap)
		buf[n] = 0;
	return n;
}

static void assert_con(struct fx *f, const char *want)
{
	char buf[4096];
	size_t n = con_read(f, buf, sizeof(buf) - 1);

	buf[n] = 0;
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(buf, want);
}

/* A VM with the console hook (and halt) negotiated at the first free page. */
static struct pv_hook_page *fx_console(struct fx *f, uint64_t limit)
{
	struct pv_hook_page *hp;

	fx_open(f, PV_F_ALL_V1, false, CON_PIPE, limit);
	hp = hp_fill(f, f->base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(neg(f, f->base), PV_REASON_OK);
	return hp;
}

static void assert_refused(struct fx *f, struct pv_hook_page *hp, uint64_t gpa, uint32_t reason)
{
	hp->negotiated = 0x5a5a; /* the host writes 0 on a refusal */
	ck_assert_uint_eq(neg(f, gpa), reason);
	ck_assert_uint_eq(hp->status, PV_NEG_REFUSED);
	ck_assert_uint_eq(hp->reason, reason);
	ck_assert_uint_eq(hp->negotiated, 0);
	ck_assert_uint_eq(f->vm->pv.hook_page, 0);
	ck_assert_uint_eq(f->vm->pv.negotiated, 0);
	ck_assert_uint_eq(f->vm->pv.last_reason, reason);
}

/* ---- guest addresses ---------------------------------------------------- */

START_TEST(gpa_bounds_are_overflow_safe)
{
	struct fx f;
	struct hv_vm *vm;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	vm = f.vm;
	ck_assert_ptr_eq(hv_gpa(vm, 0, 0), vm->mem);
	ck_assert_ptr_eq(hv_gpa(vm, 0, MEM), vm->mem);
	ck_assert_ptr_null(hv_gpa(vm, 0, MEM + 1));
	ck_assert_ptr_eq(hv_gpa(vm, MEM - 1, 0), vm->mem + MEM - 1);
	ck_assert_ptr_eq(hv_gpa(vm, MEM - 1, 1), vm->mem + MEM - 1);
	ck_assert_ptr_null(hv_gpa(vm, MEM - 1, 2));
	ck_assert_ptr_eq(hv_gpa(vm, MEM / 2, MEM / 2), vm->mem + MEM / 2);
	ck_assert_ptr_null(hv_gpa(vm, MEM / 2, MEM / 2 + 1));
	ck_assert_ptr_null(hv_gpa(vm, MEM, 0));
	ck_assert_ptr_null(hv_gpa(vm, MEM, 1));
	/* gpa + len wraps to a small number: a naive end check would pass these */
	ck_assert_ptr_null(hv_gpa(vm, ~0ull, 1));
	ck_assert_ptr_null(hv_gpa(vm, ~0ull, 2));
	ck_assert_ptr_null(hv_gpa(vm, 0ull - MEM, MEM));
	ck_assert_ptr_null(hv_gpa(vm, 0ull - 4096, 8192));
	ck_assert_ptr_null(hv_gpa(vm, 1, ~0ull));
	ck_assert_ptr_null(hv_gpa(vm, MEM - 1, ~0ull));
	ck_assert_ptr_null(hv_gpa(vm, 0, ~0ull));
	ck_assert_ptr_null(hv_gpa(vm, 4096, 0ull - 4096 + 1));
	ck_assert_ptr_null(hv_gpa(vm, 1ull << 63, 1ull << 63));
	ck_assert_ptr_null(hv_gpa(vm, PV_MMIO_GPA, 1));
	fx_close(&f);
}
END_TEST

START_TEST(desc_buf_checks_every_byte)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint32_t st;
	} cases[] = {
	    {PV_IMAGE_MIN, 0, PV_ST_BAD_LEN},
	    {0, 0, PV_ST_BAD_LEN}, /* the length is checked first */
	    {~0ull, 0, PV_ST_BAD_LEN},
	    {0, 1, PV_ST_BAD_ADDR},
	    {HV_PML4_GPA, 4096, PV_ST_BAD_ADDR},
	    {PV_BOOT_INFO_GPA, 16, PV_ST_BAD_ADDR},
	    {PV_IMAGE_MIN - 1, 2, PV_ST_BAD_ADDR}, /* starts in the system area */
	    {MEM - 1, 2, PV_ST_BAD_ADDR},
	    {MEM, 1, PV_ST_BAD_ADDR},
	    {MEM - 4096, 8192, PV_ST_BAD_ADDR},
	    {PV_IMAGE_MIN, 0xffffffffu, PV_ST_BAD_ADDR},
	    {~0ull - 3, 8, PV_ST_BAD_ADDR}, /* wraps around 2^64 */
	    {~0ull, 0xffffffffu, PV_ST_BAD_ADDR},
	    {0ull - MEM, (uint32_t)MEM, PV_ST_BAD_ADDR},
	    {PV_MMIO_GPA, 4, PV_ST_BAD_ADDR},
	};
	struct fx f;
	struct pv_desc d = {0};
	uint8_t *buf;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(cases); i++) {
		d.addr = cases[i].addr;
		d.len = cases[i].len;
		buf = (uint8_t *)&d;
		ck_assert_msg(hv_desc_buf(f.vm, &d, &buf) == cases[i].st,
			      "case %u: addr 0x%llx len %u", i, (unsigned long long)d.addr, d.len);
		if (cases[i].st == PV_ST_BAD_ADDR && d.addr >= PV_IMAGE_MIN)
			ck_assert_ptr_null(buf);
	}
	/* good buffers: the host pointer of the first byte */
	d = (struct pv_desc){.addr = PV_IMAGE_MIN, .len = 1};
	ck_assert_uint_eq(hv_desc_buf(f.vm, &d, &buf), PV_ST_OK);
	ck_assert_ptr_eq(buf, f.vm->mem + PV_IMAGE_MIN);
	d = (struct pv_desc){.addr = MEM - 1, .len = 1};
	ck_assert_uint_eq(hv_desc_buf(f.vm, &d, &buf), PV_ST_OK);
	ck_assert_ptr_eq(buf, f.vm->mem + MEM - 1);
	d = (struct pv_desc){.addr = PV_IMAGE_MIN, .len = (uint32_t)(MEM - PV_IMAGE_MIN)};
	ck_assert_uint_eq(hv_desc_buf(f.vm, &d, &buf), PV_ST_OK);
	ck_assert_ptr_eq(buf, f.vm->mem + PV_IMAGE_MIN);
	fx_close(&f);
}
END_TEST

START_TEST(ring_desc_masks_the_index)
{
	struct fx f;
	struct hv_ring r;
	uint64_t ring;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	ring = f.base + OFF_CON;
	r = (struct hv_ring){.gpa = ring, .size = 8, .valid = true};
	ck_assert_ptr_eq(hv_ring_desc(f.vm, &r, 0), g(&f, ring + 64));
	ck_assert_ptr_eq(hv_ring_desc(f.vm, &r, 7), g(&f, ring + 64 + 7 * 32));
	ck_assert_ptr_eq(hv_ring_desc(f.vm, &r, 9), g(&f, ring + 64 + 32));
	ck_assert_ptr_eq(hv_ring_desc(f.vm, &r, 0xffffffffu), g(&f, ring + 64 + 7 * 32));
	/* a descriptor past the end of RAM is no pointer at all */
	r.gpa = MEM - 64;
	ck_assert_ptr_null(hv_ring_desc(f.vm, &r, 0));
	fx_close(&f);
}
END_TEST

/* ---- negotiation -------------------------------------------------------- */

START_TEST(negotiate_accepts)
{
	struct fx f;
	struct pv_hook_page *hp;
	uint64_t acc = PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT) | PV_F(PV_HOOK_HALT);

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	/* no disk: block is not offered; the rest is */
	ck_assert_uint_eq(f.vm->cfg.offered, PV_F_ALL_V1 & ~PV_F(PV_HOOK_BLOCK));
	ck_assert_uint_eq(f.vm->boot->offered, PV_F_ALL_V1 & ~PV_F(PV_HOOK_BLOCK));
	ck_assert_uint_eq(neg_in(&f), PV_REASON_NONE);
	hp = hp_fill(&f, f.base, acc);
	/* the guest's stale counters: the host starts every ring from 0 */
	hdr(&f, f.base + OFF_CON)->cons = 77;
	hdr(&f, f.base + OFF_TX)->cons = 78;
	hdr(&f, f.base + OFF_RX)->cons = 79;
	hdr(&f, f.base + OFF_BLK)->cons = 80; /* block not accepted: left alone */
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(hp->reason, PV_REASON_OK);
	ck_assert_uint_eq(hp->negotiated, acc);
	ck_assert_uint_eq(f.vm->pv.hook_page, f.base);
	ck_assert_uint_eq(f.vm->pv.negotiated, acc);
	ck_assert_uint_eq(f.vm->pv.guest_version, PV_ABI_VERSION);
	ck_assert_uint_eq(f.vm->pv.last_reason, PV_REASON_OK);
	ck_assert_uint_eq(hdr(&f, f.base + OFF_CON)->cons, 0);
	ck_assert_uint_eq(hdr(&f, f.base + OFF_TX)->cons, 0);
	ck_assert_uint_eq(hdr(&f, f.base + OFF_RX)->cons, 0);
	ck_assert_uint_eq(hdr(&f, f.base + OFF_BLK)->cons, 80);
	ck_assert(f.vm->pv.rings[PV_RING_CONSOLE].valid);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].gpa, f.base + OFF_CON);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].size, RING_N);
	ck_assert(!f.vm->pv.rings[PV_RING_BLOCK].valid);
	ck_assert(f.vm->pv.rings[PV_RING_AGENT_TX].valid);
	ck_assert(f.vm->pv.rings[PV_RING_AGENT_RX].valid);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 1);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 0);
	ck_assert_uint_eq(f.vm->stats.neg_resets, 0);
	/* three in, one out */
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_NEGOTIATE], 3);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 0);
	fx_close(&f);
}
END_TEST

/* Rings and the clock page of hooks the guest does not accept are not looked at. */
START_TEST(negotiate_ignores_unaccepted_rings)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_HALT));
	for (unsigned int i = 0; i < PV_RING_COUNT; i++)
		hp->rings[i] = (struct pv_ring_reg){~0ull, 3, 0};
	hp->clock_gpa = 1;
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(hp->negotiated, PV_F(PV_HOOK_HALT));
	for (unsigned int i = 0; i < PV_RING_COUNT; i++)
		ck_assert(!f.vm->pv.rings[i].valid);
	/* accepting nothing at all is a negotiation too */
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	hp = hp_fill(&f, f.base, 0);
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(f.vm->pv.negotiated, 0);
	ck_assert_uint_eq(f.vm->pv.hook_page, f.base);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 2);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_refuses_bad_magic)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	hp->magic = PV_BOOT_MAGIC;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_MAGIC);
	hp->magic = 0;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_MAGIC);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 2);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 2);
	/* nothing in force: the rings stay unknown, doorbells are not served */
	ck_assert(!f.vm->pv.rings[PV_RING_CONSOLE].valid);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_refuses_versions)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	hp->abi_version = PV_ABI_VERSION_MIN - 1;
	assert_refused(&f, hp, f.base, PV_REASON_VERSION_OLD);
	hp->abi_version = PV_ABI_VERSION + 1;
	assert_refused(&f, hp, f.base, PV_REASON_VERSION_NEW);
	hp->abi_version = 0xffffffffu;
	assert_refused(&f, hp, f.base, PV_REASON_VERSION_NEW);
	/* the magic is checked before the version */
	hp->magic = 0;
	hp->abi_version = 0;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_MAGIC);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 4);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(f.vm->pv.guest_version, 1);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_refuses_features_not_offered)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT), false, CON_PIPE, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK));
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	hp->accepted = PV_F(PV_HOOK_AGENT);
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	hp->accepted = PV_F(PV_HOOK_BLOCK); /* offered, but there is no disk */
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	hp->accepted = PV_F(PV_HOOK_CONSOLE) | PV_F(5); /* reserved: the memory report */
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	hp->accepted = 1ull << 63;
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	/* features are checked before the rings */
	hp->accepted = PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT);
	hp->rings[PV_RING_CONSOLE].size = 0;
	assert_refused(&f, hp, f.base, PV_REASON_FEATURES);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 6);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(hp->negotiated, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_HALT));
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_refuses_bad_rings)
{
	static const struct {
		uint64_t gpa;
		uint32_t size;
		bool rel; /* gpa is an offset from the first free page */
	} bad[] = {
	    {0, 0, false},			   /* missing */
	    {OFF_CON, 0, true},			   /* no descriptors */
	    {OFF_CON, 3, true},			   /* not a power of two */
	    {OFF_CON, 6, true},			   /* not a power of two */
	    {OFF_CON, 0xffffffffu, true},	   /* not a power of two, too large */
	    {OFF_CON, PV_RING_MAX_SIZE * 2, true}, /* too large */
	    {OFF_CON, 0x80000000u, true},	   /* too large; * 32 wraps 32 bits */
	    {OFF_CON + 8, RING_N, true},	   /* misaligned */
	    {OFF_CON + 32, RING_N, true},	   /* misaligned */
	    {PV_IMAGE_MIN - 0x1000, 1, false},	   /* below PV_IMAGE_MIN */
	    {HV_PML4_GPA, 1, false},		   /* the page tables */
	    {0, 1, false},			   /* page 0 */
	    {MEM, 1, false},			   /* past RAM */
	    {MEM - 64, 1, false},		   /* header in RAM, descriptor not */
	    {MEM - 64 * 8, 16, false},		   /* part of the descriptors in RAM */
	    {PV_MMIO_GPA, 1, false},		   /* the MMIO window */
	    {~0ull & ~63ull, 1, false},		   /* wraps */
	    {0ull - 64 * 2, 2, false},		   /* ends exactly at 2^64 */
	};
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		struct pv_ring_reg reg = {bad[i].gpa + (bad[i].rel ? f.base : 0), bad[i].size, 0};

		hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
		hp->rings[PV_RING_CONSOLE] = reg;
		hp->negotiated = 0x5a5a;
		ck_assert_msg(neg(&f, f.base) == PV_REASON_BAD_RING, "ring %u: gpa 0x%llx size %u",
			      i, (unsigned long long)reg.gpa, reg.size);
		ck_assert_uint_eq(hp->status, PV_NEG_REFUSED);
		ck_assert_uint_eq(hp->reason, PV_REASON_BAD_RING);
		ck_assert_uint_eq(hp->negotiated, 0);
		ck_assert_uint_eq(f.vm->pv.hook_page, 0);
		ck_assert(!f.vm->pv.rings[PV_RING_CONSOLE].valid);
		ck_assert_uint_eq(f.vm->stats.neg_refused, i + 1);
	}
	/* the agent needs both its rings */
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_AGENT));
	hp->rings[PV_RING_AGENT_RX].size = 0;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_AGENT));
	hp->rings[PV_RING_AGENT_TX].gpa = 0;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	/* one bad ring refuses the whole page: no other ring is registered */
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_AGENT));
	hp->rings[PV_RING_AGENT_RX].gpa += 4;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	for (unsigned int i = 0; i < PV_RING_COUNT; i++)
		ck_assert(!f.vm->pv.rings[i].valid);
	ck_assert_uint_eq(f.vm->stats.neg_refused, PVM_ARRAY_SIZE(bad) + 3);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 0);
	fx_close(&f);
}
END_TEST

/* The limits themselves are fine: 1 and 1024 descriptors, a ring ending at the end of RAM. */
START_TEST(negotiate_accepts_ring_limits)
{
	static const struct {
		uint64_t gpa; /* 0: the default place */
		uint32_t size;
	} good[] = {
	    {0, 1},
	    {0, PV_RING_MAX_SIZE},
	    {MEM - 64 - 2 * 32, 2},
	    {MEM - 64 - PV_RING_MAX_SIZE * 32, PV_RING_MAX_SIZE},
	    {PV_IMAGE_MIN, 1},
	};
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(good); i++) {
		uint64_t gpa = good[i].gpa ? good[i].gpa : f.base + OFF_BUF;

		hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
		hp->rings[PV_RING_CONSOLE] = (struct pv_ring_reg){gpa, good[i].size, 0};
		ck_assert_msg(neg(&f, f.base) == PV_REASON_OK, "ring %u", i);
		ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
		ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].gpa, gpa);
		ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].size, good[i].size);
		ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	}
	ck_assert_uint_eq(f.vm->stats.neg_accepted, PVM_ARRAY_SIZE(good));
	ck_assert_uint_eq(f.vm->stats.neg_resets, PVM_ARRAY_SIZE(good));
	ck_assert_uint_eq(f.vm->stats.neg_refused, 0);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_checks_the_clock_page)
{
	struct fx f;
	struct pv_hook_page *hp;
	struct pv_clock_page *cp;
	uint64_t bad[7];
	unsigned int nbad = 0;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	/* negotiation runs on a vCPU thread (the clock page takes its TSC): play
	 * one, so that only the checks can refuse a clock page */
	hv_cur_vcpu = &f.vm->vcpus[0];
	bad[nbad++] = f.base + OFF_CLOCK + 64;	   /* misaligned */
	bad[nbad++] = PV_IMAGE_MIN - PV_PAGE_SIZE; /* below PV_IMAGE_MIN */
	bad[nbad++] = 0;
	bad[nbad++] = MEM;				     /* past RAM */
	bad[nbad++] = f.base;				     /* the hook page itself */
	bad[nbad++] = MEM - PV_PAGE_SIZE / 2;		     /* misaligned, half past RAM */
	bad[nbad++] = ~0ull & ~(uint64_t)(PV_PAGE_SIZE - 1); /* wraps */
	for (unsigned int i = 0; i < nbad; i++) {
		hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK));
		hp->clock_gpa = bad[i];
		hp->negotiated = 0x5a5a;
		ck_assert_msg(neg(&f, f.base) == PV_REASON_BAD_CLOCK, "clock 0x%llx",
			      (unsigned long long)bad[i]);
		ck_assert_uint_eq(hp->status, PV_NEG_REFUSED);
		ck_assert_uint_eq(hp->negotiated, 0);
		ck_assert_uint_eq(f.vm->pv.hook_page, 0);
		ck_assert_uint_eq(f.vm->pv.clock_gpa, 0);
		/* the console's ring was fine but nothing is registered */
		ck_assert(!f.vm->pv.rings[PV_RING_CONSOLE].valid);
	}
	/* a hook page on the clock page, seen from the other side */
	hp = hp_fill(&f, f.base + OFF_CLOCK, PV_F(PV_HOOK_CLOCK));
	assert_refused(&f, hp, f.base + OFF_CLOCK, PV_REASON_BAD_CLOCK);
	/* a bad ring is reported before a bad clock page */
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK));
	hp->rings[PV_RING_CONSOLE].size = 5;
	hp->clock_gpa = 1;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	ck_assert_uint_eq(f.vm->stats.neg_refused, nbad + 2);

	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK));
	cp = g(&f, f.base + OFF_CLOCK);
	memset(cp, 0, sizeof(*cp));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(hp->negotiated, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_CLOCK));
	ck_assert_uint_eq(f.vm->pv.clock_gpa, f.base + OFF_CLOCK);
	ck_assert_uint_eq(cp->seq, 2);
	ck_assert_uint_eq(cp->shift, 32);
	ck_assert_uint_gt(cp->tsc_khz, 0);
	ck_assert_uint_eq(cp->mul, (1000000ull << 32) / cp->tsc_khz);
	ck_assert_uint_gt(cp->ns_base, 0);
	/* the clock has no doorbell */
	bell(&f, PV_HOOK_CLOCK);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CLOCK], PV_ST_BAD_OP);
	ck_assert_uint_eq(hp->served[PV_HOOK_CLOCK], 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CLOCK].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CLOCK].doorbells, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CLOCK].calls, 0);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 1);
	/* the last page of RAM is a clock page like any other */
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CLOCK));
	hp->clock_gpa = MEM - PV_PAGE_SIZE;
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	ck_assert_uint_eq(f.vm->pv.clock_gpa, MEM - PV_PAGE_SIZE);
	ck_assert_uint_gt(((struct pv_clock_page *)g(&f, MEM - PV_PAGE_SIZE))->tsc_khz, 0);
	hv_cur_vcpu = NULL;
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_twice_then_reset)
{
	struct fx f;
	struct pv_hook_page *hp, *hp2;
	uint64_t gpa2;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	gpa2 = f.base + OFF_HP2;
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	hp2 = hp_fill(&f, gpa2, PV_F(PV_HOOK_HALT));
	hp2->negotiated = 0x5a5a;
	ck_assert_uint_eq(neg(&f, gpa2), PV_REASON_ALREADY);
	ck_assert_uint_eq(hp2->status, PV_NEG_REFUSED);
	ck_assert_uint_eq(hp2->reason, PV_REASON_ALREADY);
	ck_assert_uint_eq(hp2->negotiated, 0);
	/* the negotiation in force is untouched, its page too */
	ck_assert_uint_eq(f.vm->pv.hook_page, f.base);
	ck_assert_uint_eq(f.vm->pv.negotiated, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(hp->negotiated, PV_F(PV_HOOK_CONSOLE));
	/* even a page that would be refused for its magic is refused as ALREADY */
	hp2->magic = 0;
	ck_assert_uint_eq(neg(&f, gpa2), PV_REASON_ALREADY);
	/* and so is the page in force, sent again */
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_ALREADY);
	ck_assert_uint_eq(f.vm->pv.hook_page, f.base);
	ck_assert_uint_eq(f.vm->pv.negotiated, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(f.vm->stats.neg_refused, 3);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 1);
	/* the console still works */
	post(&f, con_ring(&f), put(&f, 0, "still"), 5, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "still");
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);

	/* reset: all off, the port reads NONE */
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	ck_assert_uint_eq(f.vm->stats.neg_resets, 1);
	ck_assert_uint_eq(f.vm->pv.hook_page, 0);
	ck_assert_uint_eq(f.vm->pv.negotiated, 0);
	ck_assert_uint_eq(f.vm->pv.clock_gpa, 0);
	for (unsigned int i = 0; i < PV_RING_COUNT; i++)
		ck_assert(!f.vm->pv.rings[i].valid);
	/* a doorbell now: not negotiated, and no page to say so in */
	post(&f, con_ring(&f), put(&f, 1, "lost"), 4, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 1);

	/* a new negotiation elsewhere: the console ring starts again from 0 */
	hp2 = hp_fill(&f, gpa2, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(neg(&f, gpa2), PV_REASON_OK);
	ck_assert_uint_eq(hp2->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(f.vm->pv.hook_page, gpa2);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 2);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 0);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].cons, 0);
	/* prod is 2 from before: both descriptors are served again */
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "stilllost");
	ck_assert_uint_eq(hp2->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 2);
	/* a reset with nothing in force is still a reset */
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	ck_assert_uint_eq(f.vm->stats.neg_resets, 3);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 3);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_refuses_bad_pages)
{
	struct fx f;
	struct pv_hook_page *hp;
	uint8_t boot[PV_PAGE_SIZE], low[PV_PAGE_SIZE];
	const uint32_t bad[] = {
	    (uint32_t)(MEM >> 12),		/* the first page past RAM */
	    (uint32_t)(MEM >> 12) + 1,		/* further */
	    (uint32_t)(PV_MMIO_GPA >> 12),	/* the MMIO window */
	    0xffffffffu,			/* 16 TiB */
	    (uint32_t)(PV_BOOT_INFO_GPA >> 12), /* below PV_IMAGE_MIN: the boot-info page */
	    (uint32_t)(HV_PML4_GPA >> 12),	/* the page tables */
	    1,
	};

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	/* pages below PV_IMAGE_MIN hold what the guest looks like a hook page */
	memcpy(boot, g(&f, PV_BOOT_INFO_GPA), sizeof(boot));
	memcpy(low, g(&f, HV_PML4_GPA), sizeof(low));
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		ck_assert_msg(neg_pfn(&f, bad[i]) == PV_REASON_BAD_PAGE, "pfn 0x%x", bad[i]);
		ck_assert_uint_eq(f.vm->pv.last_reason, PV_REASON_BAD_PAGE);
		ck_assert_uint_eq(f.vm->pv.hook_page, 0);
		ck_assert_uint_eq(f.vm->stats.neg_refused, i + 1);
	}
	/* nothing was written below PV_IMAGE_MIN */
	ck_assert_int_eq(memcmp(boot, g(&f, PV_BOOT_INFO_GPA), sizeof(boot)), 0);
	ck_assert_int_eq(memcmp(low, g(&f, HV_PML4_GPA), sizeof(low)), 0);
	ck_assert_uint_eq(f.vm->boot->magic, PV_BOOT_MAGIC);
	/* the first page at PV_IMAGE_MIN and the last page of RAM are guest pages */
	hp = hp_fill(&f, MEM - PV_PAGE_SIZE, PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(neg(&f, MEM - PV_PAGE_SIZE), PV_REASON_OK);
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	/* PV_IMAGE_MIN holds the bare image, which is never run here */
	hp = hp_fill(&f, PV_IMAGE_MIN, PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(neg(&f, PV_IMAGE_MIN), PV_REASON_OK);
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	/* a bad page while a negotiation is in force: BAD_PAGE, which stays in force */
	ck_assert_uint_eq(neg_pfn(&f, (uint32_t)(MEM >> 12)), PV_REASON_BAD_PAGE);
	ck_assert_uint_eq(f.vm->pv.hook_page, PV_IMAGE_MIN);
	ck_assert_uint_eq(f.vm->pv.negotiated, PV_F(PV_HOOK_HALT));
	ck_assert_uint_eq(f.vm->stats.neg_refused, PVM_ARRAY_SIZE(bad) + 1);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 2);
	fx_close(&f);
}
END_TEST

START_TEST(negotiate_port_widths)
{
	struct fx f;
	struct pv_hook_page *hp;
	uint8_t d[16];
	uint32_t pfn;
	uint64_t in_before;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	ck_assert_uint_eq(neg_in(&f), PV_REASON_NONE);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	pfn = (uint32_t)(f.base >> 12);
	/* writes that are not one 32-bit out: refused, the page untouched */
	memset(d, 0, sizeof(d));
	memcpy(d, &pfn, 4);
	memcpy(d + 4, &pfn, 4);
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 2, 1);
	ck_assert_uint_eq(neg_in(&f), PV_REASON_BAD_PAGE);
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 1, 1);
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 4, 2); /* rep outsl */
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 2, 2);
	ck_assert_uint_eq(neg_in(&f), PV_REASON_BAD_PAGE);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 4);
	ck_assert_uint_eq(f.vm->stats.neg_accepted, 0);
	ck_assert_uint_eq(f.vm->pv.hook_page, 0);
	ck_assert_uint_eq(hp->status, 0);
	ck_assert_uint_eq(hp->reason, 0);
	/* a zero that is not a 32-bit out is no reset */
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 2, 1);
	ck_assert_uint_eq(f.vm->stats.neg_resets, 0);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 5);

	/* reads: only a 32-bit in says the reason; others read all ones */
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, false, d, 2, 1);
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert_uint_eq(d[1], 0xff);
	ck_assert_uint_eq(d[2], 0);
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, false, d, 1, 1);
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert_uint_eq(d[1], 0);
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, false, d, 4, 3); /* rep insl */
	for (unsigned int i = 0; i < 12; i++)
		ck_assert_uint_eq(d[i], 0xff);
	ck_assert_uint_eq(d[12], 0);
	/* reads change nothing */
	ck_assert_uint_eq(f.vm->stats.neg_refused, 5);
	ck_assert_uint_eq(neg_in(&f), PV_REASON_OK);
	/* a bad-width write once negotiated: the reason changes, the negotiation stays */
	hv_bus_io(f.vm, PV_PORT_NEGOTIATE, true, d, 2, 1);
	ck_assert_uint_eq(neg_in(&f), PV_REASON_BAD_PAGE);
	ck_assert_uint_eq(f.vm->pv.hook_page, f.base);
	ck_assert_uint_eq(f.vm->pv.negotiated, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(hp->status, PV_NEG_ACCEPTED);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 6);
	/* every access of the port is one exit of the negotiate device */
	in_before = f.vm->stats.io_exits[HV_IODEV_NEGOTIATE];
	ck_assert_uint_eq(in_before, 16);
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_DOORBELL], 0);
	fx_close(&f);
}
END_TEST

/* ---- the console ring --------------------------------------------------- */

START_TEST(console_serves_good_buffers)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_desc *d0, *d1, *d2;

	d0 = post(&f, con_ring(&f), put(&f, 0, "hello, "), 7, PV_OP_WRITE, 0);
	d1 = post(&f, con_ring(&f), put(&f, 1, "world"), 5, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "hello, world");
	ck_assert_uint_eq(d0->status, PV_ST_OK);
	ck_assert_uint_eq(d0->done, 7);
	ck_assert_uint_eq(d1->status, PV_ST_OK);
	ck_assert_uint_eq(d1->done, 5);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 2);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].cons, 2);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 2);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 12);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].doorbells, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 0);
	ck_assert_uint_gt(f.vm->stats.first_doorbell_ns, 0);
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_DOORBELL], 1);
	/* a doorbell with nothing posted: served, nothing written */
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 2);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 2);
	/* the next batch, around the end of the ring */
	for (unsigned int i = 0; i < RING_N; i++)
		post(&f, con_ring(&f), put(&f, 2 + i, "x"), 1, PV_OP_WRITE, 0);
	d2 = slot(&f, con_ring(&f), 9);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "xxxxxxxx");
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 10);
	ck_assert_uint_eq(d2->status, PV_ST_OK);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 3);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 10);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 20);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].doorbells, 3);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 0);
	/* the last bytes of RAM are a buffer like any other */
	memcpy(g(&f, MEM - 4), "tail", 4);
	d0 = post(&f, con_ring(&f), MEM - 4, 4, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "tail");
	ck_assert_uint_eq(d0->status, PV_ST_OK);
	fx_close(&f);
}
END_TEST

START_TEST(console_refuses_len_zero)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_desc *d;

	d = post(&f, con_ring(&f), put(&f, 0, "zero"), 0, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(d->status, PV_ST_BAD_LEN);
	ck_assert_uint_eq(d->done, 0);
	/* completed all the same: cons moves on, the batch is served */
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 1);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_LEN);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 1);
	fx_close(&f);
}
END_TEST

START_TEST(console_refuses_bad_addresses)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
	    {0, 1},
	    {HV_PML4_GPA, 64},			/* the page tables */
	    {PV_BOOT_INFO_GPA, 16},		/* the boot-info page */
	    {PV_IMAGE_MIN - 1, 2},		/* straddles PV_IMAGE_MIN */
	    {MEM - 4, 8},			/* runs past RAM */
	    {MEM, 1},				/* past RAM */
	    {PV_MMIO_GPA, 4},			/* the MMIO window */
	    {~0ull - 3, 8},			/* wraps around 2^64 */
	    {0ull - PV_PAGE_SIZE, 0xffffffffu}, /* wraps further */
	    {PV_IMAGE_MIN, 0xffffffffu},	/* longer than RAM */
	};
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);

	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		struct pv_desc *d = post(&f, con_ring(&f), bad[i].addr, bad[i].len, PV_OP_WRITE, 0);

		bell(&f, PV_HOOK_CONSOLE);
		ck_assert_msg(d->status == PV_ST_BAD_ADDR, "addr 0x%llx len %u: status %u",
			      (unsigned long long)bad[i].addr, bad[i].len, d->status);
		ck_assert_uint_eq(d->done, 0);
		ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, i + 1);
		ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_ADDR);
		ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], i + 1);
		ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, i + 1);
	}
	assert_con(&f, "");
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), PVM_ARRAY_SIZE(bad));
	fx_close(&f);
}
END_TEST

START_TEST(console_refuses_other_ops)
{
	static const uint16_t ops[] = {0, PV_OP_READ, 3, 0xffff};
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_desc *d[PVM_ARRAY_SIZE(ops)];

	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(ops); i++)
		d[i] = post(&f, con_ring(&f), put(&f, i, "op"), 2, ops[i], 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(ops); i++) {
		ck_assert_uint_eq(d[i]->status, PV_ST_BAD_OP);
		ck_assert_uint_eq(d[i]->done, 0);
	}
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_OP);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, PVM_ARRAY_SIZE(ops));
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, PVM_ARRAY_SIZE(ops));
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 0);
	fx_close(&f);
}
END_TEST

/* Good and bad descriptors in one batch: each completes on its own, in order. */
START_TEST(console_mixed_batch)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_desc *d[5];

	d[0] = post(&f, con_ring(&f), put(&f, 0, "one "), 4, PV_OP_WRITE, 0);
	d[1] = post(&f, con_ring(&f), put(&f, 1, "nope"), 0, PV_OP_WRITE, 0);
	d[2] = post(&f, con_ring(&f), put(&f, 2, "two "), 4, PV_OP_WRITE, 0);
	d[3] = post(&f, con_ring(&f), PV_BOOT_INFO_GPA, 4, PV_OP_WRITE, 0);
	d[4] = post(&f, con_ring(&f), put(&f, 4, "three"), 5, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "one two three");
	ck_assert_uint_eq(d[0]->status, PV_ST_OK);
	ck_assert_uint_eq(d[1]->status, PV_ST_BAD_LEN);
	ck_assert_uint_eq(d[2]->status, PV_ST_OK);
	ck_assert_uint_eq(d[3]->status, PV_ST_BAD_ADDR);
	ck_assert_uint_eq(d[4]->status, PV_ST_OK);
	ck_assert_uint_eq(d[0]->done, 4);
	ck_assert_uint_eq(d[1]->done, 0);
	ck_assert_uint_eq(d[3]->done, 0);
	ck_assert_uint_eq(d[4]->done, 5);
	/* hook_error keeps the last error of the batch */
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_ADDR);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 3);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 13);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 2);
	/* good descriptors do not clear it */
	post(&f, con_ring(&f), put(&f, 5, "!"), 1, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "!");
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_ADDR);
	fx_close(&f);
}
END_TEST

START_TEST(ring_bad_index_serves_nothing)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_ring_hdr *h = hdr(&f, con_ring(&f));

	for (unsigned int i = 0; i < RING_N; i++)
		post(&f, con_ring(&f), put(&f, i, "abcdefgh") + i, 1, PV_OP_WRITE, 0);
	ck_assert_uint_eq(h->prod, RING_N);
	h->prod = RING_N + 1; /* one more than the ring holds */
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	for (unsigned int i = 0; i < RING_N; i++) {
		ck_assert_uint_eq(slot(&f, con_ring(&f), i)->status, PV_ST_PENDING);
		ck_assert_uint_eq(slot(&f, con_ring(&f), i)->done, DONE_UNSET);
	}
	ck_assert_uint_eq(h->cons, 0);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].cons, 0);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_INDEX);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 0);
	/* behind cons (mod 2^32: 2^32 - 1 pending) and far ahead */
	h->prod = 0xffffffffu;
	bell(&f, PV_HOOK_CONSOLE);
	h->prod = 0x80000000u;
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(h->cons, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 3);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 3);
	/* exactly a ring's worth is fine */
	h->prod = RING_N;
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "abcdefgh");
	ck_assert_uint_eq(h->cons, RING_N);
	for (unsigned int i = 0; i < RING_N; i++)
		ck_assert_uint_eq(slot(&f, con_ring(&f), i)->status, PV_ST_OK);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, RING_N);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 3);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 3);
	fx_close(&f);
}
END_TEST

/* The guest rewrites prod (and its copy of cons) between doorbells: only the host's cons counts. */
START_TEST(ring_guest_rewrites_indices)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_ring_hdr *h = hdr(&f, con_ring(&f));

	post(&f, con_ring(&f), put(&f, 0, "a"), 1, PV_OP_WRITE, 0);
	post(&f, con_ring(&f), put(&f, 1, "b"), 1, PV_OP_WRITE, 0);
	post(&f, con_ring(&f), put(&f, 2, "c"), 1, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "abc");
	ck_assert_uint_eq(h->cons, 3);
	/* prod moved back behind cons: a bad index, nothing served again */
	h->prod = 1;
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_BAD_INDEX);
	ck_assert_uint_eq(h->cons, 3);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	/* back to cons: nothing pending, no error */
	h->prod = 3;
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	/* the guest's cons is never read: serving resumes at the host's 3 */
	h->cons = 1234;
	post(&f, con_ring(&f), put(&f, 3, "d"), 1, PV_OP_WRITE, 0);
	post(&f, con_ring(&f), put(&f, 4, "e"), 1, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "de");
	ck_assert_uint_eq(h->cons, 5);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].cons, 5);
	h->cons = 0;
	h->prod = 5; /* with the guest's cons at 0: 5 > size would be bad, 0 pending is not */
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(h->cons, 0); /* nothing completed: not rewritten */
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 5);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 5);
	fx_close(&f);
}
END_TEST

/* Free-running indices wrap at 2^32 and the slots at the ring's size. */
START_TEST(ring_indices_wrap)
{
	static const char *const s[] = {"w", "x", "y", "z"};
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	struct pv_ring_hdr *h = hdr(&f, con_ring(&f));

	pthread_mutex_lock(&f.vm->pv.lock);
	f.vm->pv.rings[PV_RING_CONSOLE].cons = 0xfffffffeu;
	pthread_mutex_unlock(&f.vm->pv.lock);
	h->prod = 0xfffffffeu;
	for (unsigned int i = 0; i < 4; i++)
		post(&f, con_ring(&f), put(&f, i, s[i]), 1, PV_OP_WRITE, 0);
	ck_assert_uint_eq(h->prod, 2);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "wxyz");
	ck_assert_uint_eq(h->cons, 2);
	ck_assert_uint_eq(f.vm->pv.rings[PV_RING_CONSOLE].cons, 2);
	/* slots 6, 7, 0, 1 */
	ck_assert_uint_eq(slot(&f, con_ring(&f), 6)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 7)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 0)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 1)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 2)->status, 0);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 4);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 0);
	fx_close(&f);
}
END_TEST

/* What the walker's callback sees: its own copy, whatever the guest does to the slot. */
static struct {
	struct fx *f;
	unsigned int calls;
	struct pv_desc seen[RING_N];
	uint8_t *buf[RING_N];
	uint32_t ret;
} snap;

static uint32_t snap_fn(struct hv_vm *vm, struct pv_desc *d, uint8_t *buf)
{
	struct pv_desc *s = slot(snap.f, con_ring(snap.f), vm->pv.rings[PV_RING_CONSOLE].cons);

	ck_assert_uint_lt(snap.calls, RING_N);
	snap.seen[snap.calls] = *d;
	snap.buf[snap.calls] = buf;
	snap.calls++;
	/* the guest rewrites the slot while the host works */
	*s = (struct pv_desc){.addr = 0, .len = 0, .op = 99, .status = 0x7777, .done = 0x5555};
	d->done = 1000 + snap.calls;
	return snap.ret;
}

START_TEST(ring_serve_works_on_a_snapshot)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	uint64_t n;

	memset(&snap, 0, sizeof(snap));
	snap.f = &f;
	snap.ret = PV_ST_OK;
	post(&f, con_ring(&f), buf_gpa(&f, 0), 10, PV_OP_WRITE, 5);
	post(&f, con_ring(&f), buf_gpa(&f, 1), 20, PV_OP_READ, 6);
	post(&f, con_ring(&f), 0, 30, PV_OP_WRITE, 7); /* bad: never reaches the callback */
	pthread_mutex_lock(&f.vm->pv.lock);
	n = hv_ring_serve(f.vm, PV_HOOK_CONSOLE, PV_RING_CONSOLE, snap_fn);
	pthread_mutex_unlock(&f.vm->pv.lock);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(snap.calls, 2);
	ck_assert_uint_eq(snap.seen[0].addr, buf_gpa(&f, 0));
	ck_assert_uint_eq(snap.seen[0].len, 10);
	ck_assert_uint_eq(snap.seen[0].op, PV_OP_WRITE);
	ck_assert_uint_eq(snap.seen[0].sector, 5);
	ck_assert_uint_eq(snap.seen[0].done, 0); /* not the guest's DONE_UNSET */
	ck_assert_ptr_eq(snap.buf[0], g(&f, buf_gpa(&f, 0)));
	ck_assert_uint_eq(snap.seen[1].len, 20);
	ck_assert_uint_eq(snap.seen[1].op, PV_OP_READ);
	ck_assert_ptr_eq(snap.buf[1], g(&f, buf_gpa(&f, 1)));
	/* the host's answer overwrites the guest's scribbles */
	ck_assert_uint_eq(slot(&f, con_ring(&f), 0)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 0)->done, 1001);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 1)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 1)->done, 1002);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 2)->status, PV_ST_BAD_ADDR);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 2)->done, 0);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 3);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 2);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	/* the walker alone bumps no served[] (hv_pv_serve does) */
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 0);

	/* a failing callback: its status, done 0 whatever it set */
	snap.calls = 0;
	snap.ret = PV_ST_IO;
	post(&f, con_ring(&f), buf_gpa(&f, 2), 10, PV_OP_WRITE, 0);
	pthread_mutex_lock(&f.vm->pv.lock);
	n = hv_ring_serve(f.vm, PV_HOOK_CONSOLE, PV_RING_CONSOLE, snap_fn);
	pthread_mutex_unlock(&f.vm->pv.lock);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(snap.calls, 1);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 3)->status, PV_ST_IO);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 3)->done, 0);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], PV_ST_IO);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 2);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, 2);

	/* a ring that is not registered: nothing at all */
	snap.calls = 0;
	pthread_mutex_lock(&f.vm->pv.lock);
	n = hv_ring_serve(f.vm, PV_HOOK_BLOCK, PV_RING_BLOCK, snap_fn);
	pthread_mutex_unlock(&f.vm->pv.lock);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(snap.calls, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, 0);
	fx_close(&f);
}
END_TEST

/*
 * A batch larger than one pass (64 MiB) is cut: the rest is left for the
 * next pass, the hook is marked in the backlog and served[] waits for the
 * whole batch. Console bytes go to /dev/null here.
 */
START_TEST(ring_batch_is_served_in_slices)
{
	const uint32_t len = 12u << 20; /* 6 of them pass 64 MiB */
	struct fx f;
	struct pv_hook_page *hp;
	struct pv_ring_hdr *h;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(null, 0);
	fx_open(&f, PV_F_ALL_V1, false, null, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	h = hdr(&f, con_ring(&f));
	for (unsigned int i = 0; i < RING_N; i++)
		post(&f, con_ring(&f), PV_IMAGE_MIN, len, PV_OP_WRITE, 0);
	/*
	 * Both passes under one hold of the pv lock, as the doorbell path takes
	 * it: the I/O thread, which finishes cut batches on its own, cannot
	 * step in between.
	 */
	pthread_mutex_lock(&f.vm->pv.lock);
	hv_pv_serve(f.vm, PV_HOOK_CONSOLE);
	ck_assert_uint_eq(h->cons, 6);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 5)->status, PV_ST_OK);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 6)->status, PV_ST_PENDING);
	ck_assert_uint_eq(f.vm->pv.backlog, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 6ull * len);
	/* the next pass (the I/O thread's, or another doorbell) finishes the batch */
	hv_pv_serve(f.vm, PV_HOOK_CONSOLE);
	ck_assert_uint_eq(h->cons, RING_N);
	ck_assert_uint_eq(slot(&f, con_ring(&f), 7)->status, PV_ST_OK);
	ck_assert_uint_eq(f.vm->pv.backlog, 0);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	pthread_mutex_unlock(&f.vm->pv.lock);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].calls, RING_N);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, (uint64_t)RING_N * len);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 0);
	/* through the doorbell: the first slice, then a reset forgets the rest */
	for (unsigned int i = 0; i < RING_N; i++)
		post(&f, con_ring(&f), PV_IMAGE_MIN, len, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	ck_assert_uint_ge(h->cons, RING_N + 6); /* + 8 if the I/O thread came back already */
	ck_assert_uint_eq(neg_pfn(&f, 0), PV_REASON_NONE);
	ck_assert_uint_eq(f.vm->pv.backlog, 0);
	ck_assert_uint_eq(f.vm->stats.neg_resets, 1);
	fx_close(&f);
	close(null);
}
END_TEST

START_TEST(console_limit_drops_bytes_not_descriptors)
{
	struct fx f;
	struct pv_desc *d;

	fx_console(&f, 5);
	d = post(&f, con_ring(&f), put(&f, 0, "hello, world"), 12, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "hello");
	ck_assert_uint_eq(d->status, PV_ST_OK);
	ck_assert_uint_eq(d->done, 12);
	ck_assert_uint_eq(f.vm->stats.console_written, 12);
	ck_assert_uint_eq(f.vm->stats.console_dropped, 7);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].bytes, 12);
	d = post(&f, con_ring(&f), put(&f, 1, "more"), 4, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "");
	ck_assert_uint_eq(d->status, PV_ST_OK);
	ck_assert_uint_eq(f.vm->stats.console_dropped, 11);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 0);
	fx_close(&f);
}
END_TEST

/* ---- doorbells ---------------------------------------------------------- */

START_TEST(doorbell_of_hooks_not_negotiated)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	/* nothing negotiated: no page to write to, only the counters move */
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	post(&f, con_ring(&f), put(&f, 0, "early"), 5, PV_OP_WRITE, 0);
	ck_assert_uint_eq(f.vm->stats.first_doorbell_ns, 0);
	bell(&f, PV_HOOK_CONSOLE);
	bell(&f, PV_HOOK_HALT);
	assert_con(&f, "");
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].doorbells, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].calls, 0);
	ck_assert_uint_gt(f.vm->stats.first_doorbell_ns, 0);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 0);
	/* console only: the others say NOT_NEGOTIATED in the page */
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	for (unsigned int h = 1; h < PV_HOOK_COUNT; h++) {
		bell(&f, h);
		ck_assert_uint_eq(hp->hook_error[h], PV_ST_NOT_NEGOTIATED);
		ck_assert_uint_eq(hp->served[h], 1);
		ck_assert_uint_eq(f.vm->stats.hooks[h].doorbells, 1 + (h == PV_HOOK_HALT));
		ck_assert_uint_eq(f.vm->stats.hooks[h].errors, 1 + (h == PV_HOOK_HALT));
		ck_assert_uint_eq(f.vm->stats.hooks[h].calls, 0);
	}
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 2 + PV_HOOK_COUNT - 1);
	/* and the console, negotiated now, serves what waited */
	bell(&f, PV_HOOK_CONSOLE);
	assert_con(&f, "early");
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 1);
	fx_close(&f);
}
END_TEST

START_TEST(doorbell_unknown_hook)
{
	static const uint32_t ids[] = {PV_HOOK_COUNT, 7, 8, 31, 0x10000, 0xffffffffu};
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);

	post(&f, con_ring(&f), put(&f, 0, "waiting"), 7, PV_OP_WRITE, 0);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(ids); i++)
		bell(&f, ids[i]);
	ck_assert_uint_eq(f.vm->stats.unknown_hook, PVM_ARRAY_SIZE(ids));
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_DOORBELL], PVM_ARRAY_SIZE(ids));
	ck_assert_uint_gt(f.vm->stats.first_doorbell_ns, 0);
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++) {
		ck_assert_uint_eq(f.vm->stats.hooks[h].doorbells, 0);
		ck_assert_uint_eq(f.vm->stats.hooks[h].errors, 0);
	}
	for (unsigned int i = 0; i < 8; i++) {
		ck_assert_uint_eq(hp->served[i], 0);
		ck_assert_uint_eq(hp->hook_error[i], 0);
	}
	/* no hook was served */
	assert_con(&f, "");
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), PVM_ARRAY_SIZE(ids));
	fx_close(&f);
}
END_TEST

START_TEST(doorbell_bad_access)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	uint8_t d[16] = {0};

	post(&f, con_ring(&f), put(&f, 0, "waiting"), 7, PV_OP_WRITE, 0);
	/* d holds hook 0 (console) at every width */
	hv_bus_io(f.vm, PV_PORT_DOORBELL, true, d, 1, 1);
	hv_bus_io(f.vm, PV_PORT_DOORBELL, true, d, 2, 1);
	hv_bus_io(f.vm, PV_PORT_DOORBELL, true, d, 4, 2); /* rep outsl */
	hv_bus_io(f.vm, PV_PORT_DOORBELL, true, d, 1, 4);
	ck_assert_uint_eq(f.vm->stats.bad_doorbell, 4);
	/* reads: all ones, and bad too */
	hv_bus_io(f.vm, PV_PORT_DOORBELL, false, d, 4, 1);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_uint_eq(d[i], 0xff);
	ck_assert_uint_eq(d[4], 0);
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_DOORBELL, false, d, 2, 3);
	for (unsigned int i = 0; i < 6; i++)
		ck_assert_uint_eq(d[i], 0xff);
	ck_assert_uint_eq(d[6], 0);
	ck_assert_uint_eq(f.vm->stats.bad_doorbell, 6);
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_DOORBELL], 6);
	/* nothing served, nothing counted for the hook */
	assert_con(&f, "");
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 0);
	ck_assert_uint_eq(hp->served[PV_HOOK_CONSOLE], 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_CONSOLE].doorbells, 0);
	ck_assert_uint_eq(f.vm->stats.unknown_hook, 0);
	ck_assert_uint_eq(f.vm->stats.first_doorbell_ns, 0);
	ck_assert_uint_eq(hv_stats_errors_total(f.vm), 6);
	/* the other doorbell ports are not doorbells */
	memset(d, 0, sizeof(d));
	hv_bus_io(f.vm, PV_PORT_DOORBELL + 4, true, d, 4, 1);
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_DOORBELL], 6);
	ck_assert_uint_eq(f.vm->stats.io_exits[HV_IODEV_UNKNOWN], 1);
	ck_assert_uint_eq(hdr(&f, con_ring(&f))->cons, 0);
	fx_close(&f);
}
END_TEST

static uint64_t halt_ms(struct fx *f)
{
	uint64_t t0 = pvm_now_ns();

	bell(f, PV_HOOK_HALT);
	return (pvm_now_ns() - t0) / 1000000;
}

START_TEST(halt_doorbell_idles_within_bounds)
{
	struct fx f;
	struct pv_hook_page *hp = fx_console(&f, 0);
	uint64_t ms;

	hp->halt_us = 0;
	ms = halt_ms(&f);
	ck_assert_uint_lt(ms, 500);
	ck_assert_uint_eq(hp->served[PV_HOOK_HALT], 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].calls, 1);
	hp->halt_us = 30000;
	ms = halt_ms(&f);
	ck_assert_uint_ge(ms, 25);
	ck_assert_uint_lt(ms, 900);
	ck_assert_uint_eq(hp->served[PV_HOOK_HALT], 2);
	/* bytes waiting for the agent: no sleep at all */
	hp->halt_us = 0xffffffffu;
	pthread_mutex_lock(&f.vm->pv.lock);
	ck_assert_int_eq(hv_pv_agent_queue(f.vm, "x", 1), 0);
	pthread_mutex_unlock(&f.vm->pv.lock);
	ck_assert_uint_lt(halt_ms(&f), 500);
	f.vm->pv.agent_qlen = 0;
	/* a stop requested: no sleep either */
	f.vm->boot->host_flags |= PV_BOOT_F_STOP;
	ck_assert_uint_lt(halt_ms(&f), 500);
	f.vm->boot->host_flags = 0;
	/* the longest sleep is 1 s whatever the guest asks */
	ms = halt_ms(&f);
	ck_assert_uint_ge(ms, 950);
	ck_assert_uint_lt(ms, 1800);
	ck_assert_uint_eq(hp->served[PV_HOOK_HALT], 5);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].calls, 5);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].doorbells, 5);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_HALT].errors, 0);
	fx_close(&f);
}
END_TEST

/* ---- the agent rings ---------------------------------------------------- */

static struct {
	char buf[256];
	size_t len;
	unsigned int calls;
} agent_rx;

static void agent_rx_fn(void *opaque, const void *buf, size_t len)
{
	ck_assert_ptr_eq(opaque, &agent_rx);
	ck_assert_uint_le(agent_rx.len + len, sizeof(agent_rx.buf));
	memcpy(agent_rx.buf + agent_rx.len, buf, len);
	agent_rx.len += len;
	agent_rx.calls++;
}

START_TEST(agent_rings_both_ways)
{
	struct fx f;
	struct pv_hook_page *hp;
	uint64_t tx, rx;
	struct pv_desc *t[3], *r[4];

	memset(&agent_rx, 0, sizeof(agent_rx));
	fx_open(&f, PV_F_ALL_V1, false, CON_PIPE, 0);
	tx = f.base + OFF_TX;
	rx = f.base + OFF_RX;
	hv_agent_set_rx(f.vm, agent_rx_fn, &agent_rx);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_AGENT));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	/* guest -> host: WRITE descriptors reach the raw callback in order */
	t[0] = post(&f, tx, put(&f, 0, "abc"), 3, PV_OP_WRITE, 0);
	t[1] = post(&f, tx, put(&f, 1, "no"), 2, PV_OP_READ, 0);
	t[2] = post(&f, tx, put(&f, 2, "defg"), 4, PV_OP_WRITE, 0);
	bell(&f, PV_HOOK_AGENT);
	ck_assert_uint_eq(agent_rx.calls, 2);
	ck_assert_uint_eq(agent_rx.len, 7);
	ck_assert_int_eq(memcmp(agent_rx.buf, "abcdefg", 7), 0);
	ck_assert_uint_eq(t[0]->status, PV_ST_OK);
	ck_assert_uint_eq(t[0]->done, 3);
	ck_assert_uint_eq(t[1]->status, PV_ST_BAD_OP);
	ck_assert_uint_eq(t[1]->done, 0);
	ck_assert_uint_eq(t[2]->status, PV_ST_OK);
	ck_assert_uint_eq(hdr(&f, tx)->cons, 3);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_AGENT], PV_ST_BAD_OP);
	ck_assert_uint_eq(hp->served[PV_HOOK_AGENT], 1);
	/* the built-in session was never made */
	ck_assert_ptr_null(f.vm->pv.agent);

	/* host -> guest: posted buffers wait for bytes */
	r[0] = post(&f, rx, buf_gpa(&f, 4), 4, PV_OP_READ, 0);
	r[1] = post(&f, rx, buf_gpa(&f, 5), 4, PV_OP_WRITE, 0); /* wrong way */
	r[2] = post(&f, rx, buf_gpa(&f, 6), 4, PV_OP_READ, 0);
	r[3] = post(&f, rx, buf_gpa(&f, 7), 4, PV_OP_READ, 0);
	bell(&f, PV_HOOK_AGENT);
	ck_assert_uint_eq(hdr(&f, rx)->cons, 0);
	ck_assert_uint_eq(r[0]->status, PV_ST_PENDING);
	pthread_mutex_lock(&f.vm->pv.lock);
	ck_assert_int_eq(hv_pv_agent_queue(f.vm, "hello", 5), 0);
	pthread_mutex_unlock(&f.vm->pv.lock);
	bell(&f, PV_HOOK_AGENT);
	ck_assert_uint_eq(r[0]->status, PV_ST_OK);
	ck_assert_uint_eq(r[0]->done, 4);
	ck_assert_int_eq(memcmp(g(&f, buf_gpa(&f, 4)), "hell", 4), 0);
	ck_assert_uint_eq(r[1]->status, PV_ST_BAD_OP);
	ck_assert_uint_eq(r[1]->done, 0);
	ck_assert_uint_eq(r[2]->status, PV_ST_OK);
	ck_assert_uint_eq(r[2]->done, 1);
	ck_assert_int_eq(memcmp(g(&f, buf_gpa(&f, 6)), "o", 1), 0);
	/* the queue ran dry: the last buffer stays posted */
	ck_assert_uint_eq(r[3]->status, PV_ST_PENDING);
	ck_assert_uint_eq(hdr(&f, rx)->cons, 3);
	ck_assert_uint_eq(f.vm->pv.agent_qlen, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_AGENT].bytes, 7 + 5);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_AGENT].calls, 2 + 2);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_AGENT].errors, 2);

	/* hv_agent_send: the I/O thread delivers on its own */
	ck_assert_int_eq(hv_agent_send(f.vm, "!", 1), 0);
	for (int i = 0; i < 2000 && __atomic_load_n(&hdr(&f, rx)->cons, __ATOMIC_ACQUIRE) < 4; i++)
		usleep(1000);
	ck_assert_uint_eq(__atomic_load_n(&hdr(&f, rx)->cons, __ATOMIC_ACQUIRE), 4);
	pthread_mutex_lock(&f.vm->pv.lock);
	ck_assert_uint_eq(r[3]->status, PV_ST_OK);
	ck_assert_uint_eq(r[3]->done, 1);
	ck_assert_int_eq(memcmp(g(&f, buf_gpa(&f, 7)), "!", 1), 0);
	pthread_mutex_unlock(&f.vm->pv.lock);
	fx_close(&f);
}
END_TEST

/* ---- the block ring ----------------------------------------------------- */

static struct pv_hook_page *fx_block(struct fx *f)
{
	struct pv_hook_page *hp;

	fx_open(f, PV_F_ALL_V1, true, CON_PIPE, 0);
	ck_assert_uint_eq(f->vm->blk.sectors, DISK_SECTORS);
	ck_assert_uint_eq(f->vm->boot->disk_sectors, DISK_SECTORS);
	ck_assert_uint_eq(f->vm->cfg.offered, PV_F_ALL_V1);
	hp = hp_fill(f, f->base, PV_F(PV_HOOK_BLOCK));
	ck_assert_uint_eq(neg(f, f->base), PV_REASON_OK);
	return hp;
}

static bool sector_pattern(const uint8_t *p, uint64_t sector, uint32_t n)
{
	for (uint32_t s = 0; s < n; s++)
		for (uint32_t i = 0; i < PV_SECTOR_SIZE; i++)
			if (p[s * PV_SECTOR_SIZE + i] != (uint8_t)(sector + s + i))
				return false;
	return true;
}

static void disk_read(struct fx *f, void *buf, size_t len, off_t off)
{
	int fd = open(f->disk, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

START_TEST(block_reads_and_writes)
{
	struct fx f;
	struct pv_hook_page *hp = fx_block(&f);
	uint8_t out[1024], back[1024];
	uint64_t big = f.base + 0x100000; /* 1 MiB of room */
	struct pv_desc *d[3];

	/* read two sectors */
	memset(g(&f, buf_gpa(&f, 0)), 0xaa, 2 * PV_SECTOR_SIZE);
	d[0] = post(&f, blk_ring(&f), buf_gpa(&f, 0), 2 * PV_SECTOR_SIZE, PV_OP_READ, 10);
	/* write two sectors at 3 */
	for (unsigned int i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(0x5a ^ i);
	memcpy(g(&f, buf_gpa(&f, 1)), out, sizeof(out));
	d[1] = post(&f, blk_ring(&f), buf_gpa(&f, 1), sizeof(out), PV_OP_WRITE, 3);
	/* the whole disk in one descriptor: the largest there is */
	d[2] = post(&f, blk_ring(&f), big, PV_BLOCK_MAX_LEN, PV_OP_READ, 0);
	bell(&f, PV_HOOK_BLOCK);
	ck_assert_uint_eq(d[0]->status, PV_ST_OK);
	ck_assert_uint_eq(d[0]->done, 2 * PV_SECTOR_SIZE);
	ck_assert(sector_pattern(g(&f, buf_gpa(&f, 0)), 10, 2));
	ck_assert_uint_eq(d[1]->status, PV_ST_OK);
	ck_assert_uint_eq(d[1]->done, sizeof(out));
	disk_read(&f, back, sizeof(back), 3 * PV_SECTOR_SIZE);
	ck_assert_int_eq(memcmp(back, out, sizeof(out)), 0);
	ck_assert_uint_eq(d[2]->status, PV_ST_OK);
	ck_assert_uint_eq(d[2]->done, PV_BLOCK_MAX_LEN);
	/* in order: the read of the whole disk saw the write before it */
	ck_assert(sector_pattern(g(&f, big), 0, 3));
	ck_assert_int_eq(memcmp(g(&f, big + 3 * PV_SECTOR_SIZE), out, sizeof(out)), 0);
	ck_assert(sector_pattern(g(&f, big + 5 * PV_SECTOR_SIZE), 5, DISK_SECTORS - 5));
	ck_assert_uint_eq(hdr(&f, blk_ring(&f))->cons, 3);
	ck_assert_uint_eq(hp->served[PV_HOOK_BLOCK], 1);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_BLOCK], 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].calls, 3);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].bytes,
			  2 * PV_SECTOR_SIZE + sizeof(out) + PV_BLOCK_MAX_LEN);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, 0);
	/* the last sector */
	d[0] = post(&f, blk_ring(&f), buf_gpa(&f, 2), PV_SECTOR_SIZE, PV_OP_READ, DISK_SECTORS - 1);
	bell(&f, PV_HOOK_BLOCK);
	ck_assert_uint_eq(d[0]->status, PV_ST_OK);
	ck_assert(sector_pattern(g(&f, buf_gpa(&f, 2)), DISK_SECTORS - 1, 1));
	fx_close(&f);
}
END_TEST

START_TEST(block_refuses_bad_descriptors)
{
	static const struct {
		uint16_t op;
		uint32_t len;
		uint64_t sector;
		uint32_t st;
	} bad[] = {
	    {PV_OP_READ, PV_SECTOR_SIZE, DISK_SECTORS, PV_ST_BAD_SECTOR},
	    {PV_OP_WRITE, PV_SECTOR_SIZE, DISK_SECTORS, PV_ST_BAD_SECTOR},
	    {PV_OP_READ, 2 * PV_SECTOR_SIZE, DISK_SECTORS - 1, PV_ST_BAD_SECTOR},
	    {PV_OP_WRITE, PV_BLOCK_MAX_LEN, 1, PV_ST_BAD_SECTOR},
	    {PV_OP_WRITE, PV_SECTOR_SIZE, ~0ull, PV_ST_BAD_SECTOR},
	    {PV_OP_WRITE, PV_SECTOR_SIZE, 1ull << 55, PV_ST_BAD_SECTOR}, /* * 512 wraps */
	    {PV_OP_WRITE, 2 * PV_SECTOR_SIZE, (0ull - 1) / PV_SECTOR_SIZE, PV_ST_BAD_SECTOR},
	    {0, PV_SECTOR_SIZE, 0, PV_ST_BAD_OP},
	    {3, PV_SECTOR_SIZE, 0, PV_ST_BAD_OP},
	    {0xffff, PV_SECTOR_SIZE, 0, PV_ST_BAD_OP},
	    {0, PV_SECTOR_SIZE, DISK_SECTORS, PV_ST_BAD_OP}, /* op first */
	    {PV_OP_WRITE, 100, 0, PV_ST_BAD_LEN},
	    {PV_OP_WRITE, PV_SECTOR_SIZE + 1, 0, PV_ST_BAD_LEN},
	    {PV_OP_READ, PV_BLOCK_MAX_LEN + PV_SECTOR_SIZE, 0, PV_ST_BAD_LEN},
	    {PV_OP_READ, 2 * PV_BLOCK_MAX_LEN, 0, PV_ST_BAD_LEN},
	    {PV_OP_WRITE, 100, DISK_SECTORS, PV_ST_BAD_LEN}, /* len before sector */
	    {PV_OP_WRITE, 0, 0, PV_ST_BAD_LEN},
	};
	struct fx f;
	struct pv_hook_page *hp = fx_block(&f);
	uint64_t room = f.base + 0x100000; /* 2 MiB + 512 of guest RAM from here */
	uint8_t *before = malloc(DISK_BYTES), *after = malloc(DISK_BYTES);

	ck_assert_ptr_nonnull(before);
	ck_assert_ptr_nonnull(after);
	ck_assert_uint_le(room + 2 * PV_BLOCK_MAX_LEN, f.vm->boot->free_end);
	disk_read(&f, before, DISK_BYTES, 0);
	memset(g(&f, room), 0xcc, 2 * PV_BLOCK_MAX_LEN);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		struct pv_desc *d =
		    post(&f, blk_ring(&f), room, bad[i].len, bad[i].op, bad[i].sector);

		bell(&f, PV_HOOK_BLOCK);
		ck_assert_msg(d->status == bad[i].st, "case %u: status %u, want %u", i, d->status,
			      bad[i].st);
		ck_assert_uint_eq(d->done, 0);
		ck_assert_uint_eq(hp->hook_error[PV_HOOK_BLOCK], bad[i].st);
		ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, i + 1);
	}
	/* the disk and the buffers are untouched */
	disk_read(&f, after, DISK_BYTES, 0);
	ck_assert_int_eq(memcmp(before, after, DISK_BYTES), 0);
	for (uint64_t i = 0; i < 2 * PV_BLOCK_MAX_LEN; i++)
		if (((uint8_t *)g(&f, room))[i] != 0xcc)
			ck_abort_msg("guest byte %llu changed", (unsigned long long)i);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].calls, 0);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].bytes, 0);
	ck_assert_uint_eq(hdr(&f, blk_ring(&f))->cons, PVM_ARRAY_SIZE(bad));
	free(before);
	free(after);
	fx_close(&f);
}
END_TEST

/* A read into memory the guest may not name is refused before the disk is touched. */
START_TEST(block_reads_never_land_outside_guest_ram)
{
	static const uint64_t addrs[] = {
	    0,	       HV_PML4_GPA, HV_IDT_GPA, PV_BOOT_INFO_GPA, PV_IMAGE_MIN - PV_SECTOR_SIZE / 2,
	    MEM - 256, MEM,	    0ull - 256};
	struct fx f;
	struct pv_hook_page *hp = fx_block(&f);
	uint8_t *low = malloc(PV_IMAGE_MIN);
	struct pv_desc *d;

	ck_assert_ptr_nonnull(low);
	memcpy(low, f.vm->mem, PV_IMAGE_MIN);
	for (unsigned int i = 0; i < PVM_ARRAY_SIZE(addrs); i++) {
		d = post(&f, blk_ring(&f), addrs[i], PV_SECTOR_SIZE, PV_OP_READ, 0);
		bell(&f, PV_HOOK_BLOCK);
		ck_assert_msg(d->status == PV_ST_BAD_ADDR, "addr 0x%llx: status %u",
			      (unsigned long long)addrs[i], d->status);
		ck_assert_uint_eq(d->done, 0);
	}
	ck_assert_int_eq(memcmp(low, f.vm->mem, PV_IMAGE_MIN), 0);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_BLOCK], PV_ST_BAD_ADDR);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, PVM_ARRAY_SIZE(addrs));
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].calls, 0);
	free(low);
	fx_close(&f);
}
END_TEST

/* A disk that shrank under the VM: reads past its new end are host I/O errors. */
START_TEST(block_short_disk_is_an_io_error)
{
	struct fx f;
	struct pv_hook_page *hp = fx_block(&f);
	struct pv_desc *d;

	ck_assert_int_eq(truncate(f.disk, 4 * PV_SECTOR_SIZE), 0);
	d = post(&f, blk_ring(&f), buf_gpa(&f, 0), PV_SECTOR_SIZE, PV_OP_READ, 3);
	bell(&f, PV_HOOK_BLOCK);
	ck_assert_uint_eq(d->status, PV_ST_OK);
	ck_assert(sector_pattern(g(&f, buf_gpa(&f, 0)), 3, 1));
	d = post(&f, blk_ring(&f), buf_gpa(&f, 0), PV_SECTOR_SIZE, PV_OP_READ, 4);
	bell(&f, PV_HOOK_BLOCK);
	ck_assert_uint_eq(d->status, PV_ST_IO);
	ck_assert_uint_eq(d->done, 0);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_BLOCK], PV_ST_IO);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, 1);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].calls, 1);
	fx_close(&f);
}
END_TEST

START_TEST(block_ring_checked_at_negotiation)
{
	struct fx f;
	struct pv_hook_page *hp;

	fx_open(&f, PV_F_ALL_V1, true, CON_PIPE, 0);
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE) | PV_F(PV_HOOK_BLOCK));
	hp->rings[PV_RING_BLOCK].gpa = MEM - 64;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	hp->rings[PV_RING_BLOCK].gpa = f.base + OFF_BLK;
	hp->rings[PV_RING_BLOCK].size = 12;
	assert_refused(&f, hp, f.base, PV_REASON_BAD_RING);
	ck_assert_uint_eq(f.vm->stats.neg_refused, 2);
	/* the block doorbell without the hook */
	hp = hp_fill(&f, f.base, PV_F(PV_HOOK_CONSOLE));
	ck_assert_uint_eq(neg(&f, f.base), PV_REASON_OK);
	post(&f, blk_ring(&f), buf_gpa(&f, 0), PV_SECTOR_SIZE, PV_OP_READ, 0);
	bell(&f, PV_HOOK_BLOCK);
	ck_assert_uint_eq(hp->hook_error[PV_HOOK_BLOCK], PV_ST_NOT_NEGOTIATED);
	ck_assert_uint_eq(hp->served[PV_HOOK_BLOCK], 1);
	ck_assert_uint_eq(slot(&f, blk_ring(&f), 0)->status, PV_ST_PENDING);
	ck_assert_uint_eq(f.vm->stats.hooks[PV_HOOK_BLOCK].errors, 1);
	fx_close(&f);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	s = suite_create("hv_pv_mem");
	tc = tcase_create("addresses");
	tcase_add_test(tc, gpa_bounds_are_overflow_safe);
	tcase_add_test(tc, desc_buf_checks_every_byte);
	tcase_add_test(tc, ring_desc_masks_the_index);
	suite_add_tcase(s, tc);
	tc = tcase_create("negotiation");
	tcase_add_test(tc, negotiate_accepts);
	tcase_add_test(tc, negotiate_ignores_unaccepted_rings);
	tcase_add_test(tc, negotiate_refuses_bad_magic);
	tcase_add_test(tc, negotiate_refuses_versions);
	tcase_add_test(tc, negotiate_refuses_features_not_offered);
	tcase_add_test(tc, negotiate_refuses_bad_rings);
	tcase_add_test(tc, negotiate_accepts_ring_limits);
	tcase_add_test(tc, negotiate_checks_the_clock_page);
	tcase_add_test(tc, negotiate_twice_then_reset);
	tcase_add_test(tc, negotiate_refuses_bad_pages);
	tcase_add_test(tc, negotiate_port_widths);
	suite_add_tcase(s, tc);
	tc = tcase_create("rings");
	tcase_add_test(tc, console_serves_good_buffers);
	tcase_add_test(tc, console_refuses_len_zero);
	tcase_add_test(tc, console_refuses_bad_addresses);
	tcase_add_test(tc, console_refuses_other_ops);
	tcase_add_test(tc, console_mixed_batch);
	tcase_add_test(tc, ring_bad_index_serves_nothing);
	tcase_add_test(tc, ring_guest_rewrites_indices);
	tcase_add_test(tc, ring_indices_wrap);
	tcase_add_test(tc, ring_serve_works_on_a_snapshot);
	tcase_add_test(tc, ring_batch_is_served_in_slices);
	tcase_add_test(tc, console_limit_drops_bytes_not_descriptors);
	tcase_add_test(tc, agent_rings_both_ways);
	suite_add_tcase(s, tc);
	tc = tcase_create("doorbells");
	tcase_add_test(tc, doorbell_of_hooks_not_negotiated);
	tcase_add_test(tc, doorbell_unknown_hook);
	tcase_add_test(tc, doorbell_bad_access);
	tcase_add_test(tc, halt_doorbell_idles_within_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("block");
	tcase_add_test(tc, block_reads_and_writes);
	tcase_add_test(tc, block_refuses_bad_descriptors);
	tcase_add_test(tc, block_reads_never_land_outside_guest_ram);
	tcase_add_test(tc, block_short_disk_is_an_io_error);
	tcase_add_test(tc, block_ring_checked_at_negotiation);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
