// SPDX-License-Identifier: MIT
/*
 * The guest's CPL3 world, built in its memory before the first KVM_RUN:
 * identity page tables (2 MiB user pages, 4 KiB pages for the first 2 MiB
 * so system structures are supervisor-only and page 0 is unmapped; one more
 * 2 MiB user page for the MMIO window), a GDT
 * with DPL0 and DPL3 64-bit segments and one TSS per vCPU, an IDT whose 32
 * exception stubs report the vector on PV_PORT_FAULT, and the boot-info page.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hv/vm.h"

#define PTE_P  0x001ull
#define PTE_RW 0x002ull
#define PTE_US 0x004ull
#define PTE_PS 0x080ull

/* docs/pv-abi.md states these sizes and offsets; keep them true */
_Static_assert(sizeof(struct pv_boot_info) == 0x480, "boot info layout");
_Static_assert(offsetof(struct pv_boot_info, host_flags) == 0x40, "boot info layout");
_Static_assert(offsetof(struct pv_boot_info, cmdline) == 0x80, "boot info layout");
_Static_assert(sizeof(struct pv_hook_page) == 0xc0, "hook page layout");
_Static_assert(offsetof(struct pv_hook_page, rings) == 0x30, "hook page layout");
_Static_assert(offsetof(struct pv_hook_page, served) == 0x70, "hook page layout");
_Static_assert(offsetof(struct pv_hook_page, hook_error) == 0x90, "hook page layout");
_Static_assert(offsetof(struct pv_hook_page, work_ns) == 0xb8, "hook page layout");
_Static_assert(sizeof(struct pv_ring_hdr) == 64, "ring header layout");
_Static_assert(sizeof(struct pv_desc) == 32, "descriptor layout");
_Static_assert(offsetof(struct pv_desc, done) == 0x18, "descriptor layout");
_Static_assert(sizeof(struct pv_clock_page) == 0x28, "clock page layout");
/* the window needs a page directory of its own: above RAM, below 512 GiB */
_Static_assert(PV_MMIO_GPA >= (uint64_t)HV_MAX_MEM_MIB << 20, "MMIO window above RAM");
_Static_assert((PV_MMIO_GPA >> 30) >= 4 && (PV_MMIO_GPA >> 39) == 0, "MMIO window PDPT slot");
_Static_assert(PV_MMIO_SIZE == 2ull << 20 && PV_MMIO_GPA % PV_MMIO_SIZE == 0, "one 2 MiB page");

#define GDT_KCODE 0x0020980000000000ull /* L=1, P, DPL0, code */
#define GDT_KDATA 0x0000920000000000ull /* P, DPL0, data RW */
#define GDT_UDATA 0x0000f20000000000ull /* P, DPL3, data RW */
#define GDT_UCODE 0x0020f80000000000ull /* L=1, P, DPL3, code */

static void put64(struct hv_vm *vm, uint64_t gpa, uint64_t v)
{
	memcpy(vm->mem + gpa, &v, sizeof(v));
}

static void build_page_tables(struct hv_vm *vm)
{
	uint64_t npd = vm->mapped_end >> 21;

	put64(vm, HV_PML4_GPA, HV_PDPT_GPA | PTE_P | PTE_RW | PTE_US);
	for (uint64_t i = 0; i < 4; i++)
		put64(vm, HV_PDPT_GPA + i * 8, (HV_PD_GPA + i * 4096) | PTE_P | PTE_RW | PTE_US);
	put64(vm, HV_PD_GPA, HV_PT_GPA | PTE_P | PTE_RW | PTE_US);
	for (uint64_t i = 1; i < npd; i++)
		put64(vm, HV_PD_GPA + i * 8, (i << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS);
	/* the MMIO window: a user page with no memslot, so accesses exit as MMIO */
	put64(vm, HV_PDPT_GPA + (PV_MMIO_GPA >> 30) * 8, HV_MMIO_PD_GPA | PTE_P | PTE_RW | PTE_US);
	put64(vm, HV_MMIO_PD_GPA + ((PV_MMIO_GPA >> 21) & 511) * 8,
	      PV_MMIO_GPA | PTE_P | PTE_RW | PTE_US | PTE_PS);
	/* first 2 MiB: boot info user read-only, system pages supervisor-only */
	put64(vm, HV_PT_GPA + (PV_BOOT_INFO_GPA >> 12) * 8, PV_BOOT_INFO_GPA | PTE_P | PTE_US);
	for (uint64_t a = HV_PML4_GPA; a < HV_SYS_END; a += 4096)
		put64(vm, HV_PT_GPA + (a >> 12) * 8, a | PTE_P | PTE_RW);
}

static void build_gdt(struct hv_vm *vm)
{
	put64(vm, HV_GDT_GPA + 0x08, GDT_KCODE);
	put64(vm, HV_GDT_GPA + 0x10, GDT_KDATA);
	put64(vm, HV_GDT_GPA + 0x18, GDT_UDATA);
	put64(vm, HV_GDT_GPA + 0x20, GDT_UCODE);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		uint64_t tss = HV_TSS_GPA + i * HV_TSS_SIZE, limit = HV_TSS_LIMIT;
		uint64_t lo = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
			      (((tss >> 24) & 0xff) << 56);

		put64(vm, HV_GDT_GPA + 0x28 + i * 16, lo);
		put64(vm, HV_GDT_GPA + 0x30 + i * 16, tss >> 32);
		/* RSP0: the top of this vCPU's CPL0 stack */
		put64(vm, tss + 4, HV_KSTACK_GPA + (i + 1) * 1024);
		/* An I/O bitmap allowing every port, besides IOPL=3: PVM-style
		 * hosts consult the bitmap for in/out at CPL3. */
		memcpy(vm->mem + tss + 102, &(uint16_t){104}, 2);
		vm->mem[tss + 104 + 8192] = 0xff;
	}
}

/* Each stub: mov $vector, %eax; mov $PV_PORT_FAULT, %dx; out %eax, %dx; jmp . */
static void build_idt(struct hv_vm *vm)
{
	for (uint64_t v = 0; v < HV_FAULT_VECTORS; v++) {
		uint64_t stub = HV_STUBS_GPA + v * 16;
		uint8_t *s = vm->mem + stub;
		uint64_t lo, hi;

		s[0] = 0xb8;
		memcpy(&s[1], &(uint32_t){(uint32_t)v}, 4);
		s[5] = 0x66;
		s[6] = 0xba;
		memcpy(&s[7], &(uint16_t){PV_PORT_FAULT}, 2);
		s[9] = 0xef;
		s[10] = 0xeb;
		s[11] = 0xfe;
		/* 64-bit interrupt gate, DPL0, selector 0x08 */
		lo = (stub & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
		     (((stub >> 16) & 0xffff) << 48);
		hi = stub >> 32;
		put64(vm, HV_IDT_GPA + v * 16, lo);
		put64(vm, HV_IDT_GPA + v * 16 + 8, hi);
	}
}

static void build_boot_info(struct hv_vm *vm)
{
	struct pv_boot_info *bi = (struct pv_boot_info *)(vm->mem + PV_BOOT_INFO_GPA);
	size_t len = strlen(vm->cmdline);

	bi->magic = PV_BOOT_MAGIC;
	bi->size = sizeof(*bi);
	bi->abi_version = PV_ABI_VERSION;
	bi->abi_version_min = PV_ABI_VERSION_MIN;
	bi->offered = vm->cfg.offered;
	bi->mem_bytes = vm->mem_size;
	bi->vcpus = vm->nvcpus;
	bi->cmdline_len = (uint32_t)len;
	bi->free_start = (vm->image_end + 4095) & ~4095ull;
	bi->free_end = vm->mapped_end - (uint64_t)vm->nvcpus * HV_USER_STACK;
	bi->disk_sectors = vm->blk.sectors;
	memcpy(bi->cmdline, vm->cmdline, len + 1);
	vm->boot = bi;
}

int hv_boot_setup(struct hv_vm *vm, struct pvm_err *err)
{
	if (strlen(vm->cmdline) >= PV_CMDLINE_MAX)
		return pvm_err_set(err, -EINVAL, "command line longer than %u bytes",
				   PV_CMDLINE_MAX - 1);
	build_page_tables(vm);
	build_gdt(vm);
	build_idt(vm);
	build_boot_info(vm);
	return 0;
}
