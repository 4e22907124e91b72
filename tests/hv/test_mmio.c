// SPDX-License-Identifier: MIT
/*
 * The MMIO bus on real KVM: a guest at CPL3 touching the MMIO window reaches
 * the device registered for the address, with each access size; an address
 * nobody claims is counted, reads all ones and the VMM stays up; overlapping
 * registrations are refused.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/vm.h"
#include "vmm.h"

#define LOG_MAX 16

/* A test device: a 32-byte register file that logs every access. The guest
 * has one vCPU, so accesses never race and need no lock. */
struct scratch {
	uint64_t base;
	uint8_t regs[32];
	struct {
		uint64_t off;
		bool write;
		uint32_t len;
		uint64_t value;
	} log[LOG_MAX];
	unsigned int n;
};

static void scratch_mmio(struct hv_vm *vm, void *dev, uint64_t addr, bool write, uint8_t *data,
			 uint32_t len)
{
	struct scratch *s = dev;
	uint64_t off = addr - s->base, v = 0;

	(void)vm;
	ck_assert_uint_le(off + len, sizeof(s->regs));
	if (write)
		memcpy(s->regs + off, data, len);
	else
		memcpy(data, s->regs + off, len);
	memcpy(&v, data, len);
	ck_assert_uint_lt(s->n, LOG_MAX);
	s->log[s->n].off = off;
	s->log[s->n].write = write;
	s->log[s->n].len = len;
	s->log[s->n].value = v;
	s->n++;
}

static struct hv_vm *make_vm(const char *cmdline, int console_fd)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct hv_vm *vm = NULL;

	hv_config_init(&cfg);
	cfg.image = vmm_guest("mmio");
	cfg.platform = vmm_platform();
	cfg.mem_mib = 16;
	cfg.vcpus = 1;
	cfg.cmdline = cmdline;
	cfg.console_fd = console_fd;
	ck_assert_msg(hv_vm_create(&cfg, &vm, &err) == 0, "%s", err.msg);
	return vm;
}

/* What the guest printed, NUL-terminated (static buffer). */
static const char *console_text(int fd)
{
	static char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static long long stat_at(struct hv_vm *vm, const char *path)
{
	json_object *o = hv_stats_json(vm);
	long long v = vmm_json_int(o, path);

	json_object_put(o);
	return v;
}

static int console_file(const char *name)
{
	int fd = open(vmm_tmp(name), O_RDWR | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(dispatch_by_range_with_each_size)
{
	static const uint64_t values[4] = {0x11, 0x2233, 0x44556677, 0x8899aabbccddeeffull};
	struct scratch *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int fd = console_file("mmio-dispatch");
	struct hv_vm *vm = make_vm("dev=4128" /* 0x1020 */, fd);
	const char *out;

	/* two adjacent devices: the guest's accesses all fall in b's range */
	a->base = PV_MMIO_GPA + 0x1000;
	b->base = PV_MMIO_GPA + 0x1020;
	ck_assert_int_eq(hv_bus_register_mmio(&vm->bus, a->base, 32, scratch_mmio, a), 0);
	ck_assert_int_eq(hv_bus_register_mmio(&vm->bus, b->base, 32, scratch_mmio, b), 0);
	ck_assert_int_eq(hv_vm_run(vm), 0);

	ck_assert_uint_eq(a->n, 0);
	ck_assert_uint_eq(b->n, 8);
	for (unsigned int i = 0; i < 8; i++) {
		unsigned int reg = i % 4;

		ck_assert_uint_eq(b->log[i].off, 8 * reg);
		ck_assert(b->log[i].write == (i < 4));
		ck_assert_uint_eq(b->log[i].len, 1u << reg);
		ck_assert_uint_eq(b->log[i].value, values[reg]);
	}
	out = console_text(fd);
	ck_assert_ptr_nonnull(strstr(out, "mmio: dev size 1 read 0x11\n"));
	ck_assert_ptr_nonnull(strstr(out, "mmio: dev size 8 read 0x8899aabbccddeeff\n"));
	/* 8 accesses to the device, 8 to the unclaimed address */
	ck_assert_int_eq(stat_at(vm, "exits.mmio"), 16);
	ck_assert_int_eq(stat_at(vm, "mmio_unknown"), 8);
	ck_assert_int_eq(stat_at(vm, "io_exits.unknown"), 8);
	hv_vm_destroy(vm);
	close(fd);
	free(a);
	free(b);
}
END_TEST

START_TEST(unknown_address_is_counted_and_reads_all_ones)
{
	int fd = console_file("mmio-unknown");
	struct hv_vm *vm = make_vm("dev=4096" /* 0x1000 */, fd);
	const char *out;

	/* nobody registered: the guest's device check fails first (exit 1) and
	 * its unclaimed-address checks still run; the run ends with its code */
	ck_assert_int_eq(hv_vm_run(vm), 1);
	ck_assert_str_eq(hv_vm_exit_reason(vm), "guest powered off with code 1");
	out = console_text(fd);
	ck_assert_ptr_nonnull(strstr(out, "mmio: dev size 1 read 0xff\n"));
	ck_assert_ptr_nonnull(strstr(out, "mmio: dev size 2 read 0xffff\n"));
	ck_assert_ptr_nonnull(strstr(out, "mmio: dev size 4 read 0xffffffff\n"));
	ck_assert_ptr_nonnull(strstr(out, "mmio: nobody size 8 read 0xffffffffffffffff\n"));
	ck_assert_int_eq(stat_at(vm, "exits.mmio"), 16);
	ck_assert_int_eq(stat_at(vm, "mmio_unknown"), 16);
	ck_assert_int_eq(stat_at(vm, "io_exits.unknown"), 16);
	hv_vm_destroy(vm);
	close(fd);
}
END_TEST

static void nop_mmio(struct hv_vm *vm, void *dev, uint64_t addr, bool write, uint8_t *data,
		     uint32_t len)
{
	(void)vm;
	(void)dev;
	(void)addr;
	(void)write;
	(void)data;
	(void)len;
}

START_TEST(overlapping_registration_refused)
{
	struct hv_bus bus = {0};
	int i;

	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x1000, 0x100, nop_mmio, NULL), 0);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x10ff, 1, nop_mmio, NULL), -EEXIST);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0xf00, 0x101, nop_mmio, NULL), -EEXIST);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x1040, 0x10, nop_mmio, NULL), -EEXIST);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x800, 0x1000, nop_mmio, NULL), -EEXIST);
	ck_assert_int_eq(bus.nm, 1);
	/* touching is not overlapping */
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0xf00, 0x100, nop_mmio, NULL), 0);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x1100, 0x100, nop_mmio, NULL), 0);
	/* empty and wrapping ranges claim nothing sensible */
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x4000, 0, nop_mmio, NULL), -EINVAL);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, ~0ull - 1, 4, nop_mmio, NULL), -EINVAL);
	ck_assert_int_eq(bus.nm, 3);
	for (i = bus.nm; i < HV_MMIO_BUS_MAX; i++)
		ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x10000 + (uint64_t)i * 0x100, 0x100,
						      nop_mmio, NULL),
				 0);
	ck_assert_int_eq(hv_bus_register_mmio(&bus, 0x100000, 0x100, nop_mmio, NULL), -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	vmm_require_platform();
	s = suite_create("hv_mmio");
	tc = tcase_create("mmio");
	tcase_add_test(tc, dispatch_by_range_with_each_size);
	tcase_add_test(tc, unknown_address_is_counted_and_reads_all_ones);
	tcase_add_test(tc, overlapping_registration_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
