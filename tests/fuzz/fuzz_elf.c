/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the guest image loader (hv/elf.c): the input is the
 * image file, loaded into 4 MiB of guest RAM, then the boot set-up around
 * it (page tables, descriptor tables, boot-info page). A loaded image must
 * lie in RAM above PV_IMAGE_MIN with its entry point inside it, and leave
 * the guest free RAM that starts before it ends.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fake_vm.h"

#define MEM (4ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hv_vm *vm;
	static int fd = -1;
	static char path[64], cmdline[] = "console=fuzz";
	struct pvm_err err = {0};

	if (!vm) {
		vm = fuzz_vm_new(MEM, false, 0);
		fd = memfd_create("fuzz-image", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		vm->cmdline = cmdline;
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	vm->entry = 0;
	vm->image_end = 0;
	if (hv_elf_load(vm, path, &err) < 0)
		return 0;
	if (vm->image_end < PV_IMAGE_MIN || vm->image_end > MEM - HV_USER_STACK ||
	    vm->entry < PV_IMAGE_MIN || vm->entry >= vm->image_end)
		abort();
	if (hv_boot_setup(vm, &err) < 0 || vm->boot->free_start > vm->boot->free_end)
		abort();
	return 0;
}
