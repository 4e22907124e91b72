/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fake_vm.h"

static int fake_doorbell_async(struct hv_vm *vm, unsigned int hook, int efd)
{
	(void)vm;
	(void)hook;
	(void)efd;
	return 0; /* no ioeventfd: every doorbell reaches doorbell_io */
}

static void fake_kick(struct hv_vcpu *cpu)
{
	(void)cpu;
}

static int fake_tsc(struct hv_vcpu *cpu, uint64_t *tsc, uint64_t *khz)
{
	(void)cpu;
	*tsc = 1000000;
	*khz = 2000000;
	return 0;
}

static const struct hv_platform fake_platform = {
    .name = "fuzz",
    .doorbell_async = fake_doorbell_async,
    .vcpu_kick = fake_kick,
    .tsc = fake_tsc,
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

struct hv_vm *fuzz_vm_new(uint64_t mem_size, bool devices, uint64_t disk_sectors)
{
	struct hv_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		die("fuzz vm");
	hv_config_init(&vm->cfg);
	vm->cfg.console_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	vm->plat = &fake_platform;
	vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->cfg.console_fd < 0 || vm->mem == MAP_FAILED)
		die("fuzz vm memory");
	vm->mem_size = mem_size;
	vm->mapped_end = mem_size;
	vm->cfg.mem_mib = mem_size >> 20;
	vm->nvcpus = 1;
	vm->vcpus[0].vm = vm;
	vm->boot = hv_gpa(vm, PV_BOOT_INFO_GPA, sizeof(*vm->boot));
	vm->blk.fd = -1;
	vm->stats.start_ns = pvm_now_ns();
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	hv_cur_vcpu = &vm->vcpus[0];
	if (hv_pv_init(vm))
		die("fuzz vm: pv");
	if (!devices)
		return vm;
	if (disk_sectors) {
		vm->blk.fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
		if (vm->blk.fd < 0 || ftruncate(vm->blk.fd, (off_t)(disk_sectors * PV_SECTOR_SIZE)))
			die("fuzz vm: disk");
		vm->blk.sectors = disk_sectors;
	}
	if (hv_uart_init(vm) || hv_pit_init(vm) || hv_cmos_init(vm) || hv_power_init(vm) ||
	    hv_blockdev_register(vm) || hv_pv_start(vm))
		die("fuzz vm: devices");
	/* The I/O thread would serve doorbells behind the fuzzer's back: stop
	 * it. Every doorbell is then served on the caller's thread, as a vCPU
	 * exit is, and a halt hint never sleeps (the VM counts as done). */
	hv_pv_stop(vm);
	return vm;
}
