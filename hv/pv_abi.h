/* SPDX-License-Identifier: MIT */
/*
 * pv hook ABI v1: what a pvm guest and pvm-vmm share, byte for byte.
 * Freestanding: includable by guest code built with -ffreestanding -nostdlib
 * (it needs only <stddef.h> and <stdint.h>), and by every module that names
 * hooks: it is the ABI's own header, with no code behind it in pvm_hv.
 * docs/pv-abi.md is the prose version; the two must agree. Every multi-byte
 * field is little-endian. Names carry pv_/PV_.
 */
#ifndef PVM_PV_ABI_H
#define PVM_PV_ABI_H

#include <stddef.h>
#include <stdint.h>

#define PV_ABI_VERSION	   1u /* highest version this host or guest speaks */
#define PV_ABI_VERSION_MIN 1u /* lowest version a host accepts */

/* ---- hook feature bits (offered, accepted, negotiated) ---------------- */

/*
 * The hooks of ABI v1 as X(ID, name, bit), in bit order: the one list that
 * every hook enum, name table and bit mask in pvm comes from (hv/, agent/,
 * schedulers/, controller/, api/, common/'s report and, generated at build
 * time, pvmctl's shell completions). A new hook is a line here at the next
 * bit, and a row in docs/pv-abi.md section 4. Names are the wire's: lowercase
 * words, never renamed.
 */
#define PV_HOOKS(X)                                                                                \
	X(CONSOLE, "console", 0)                                                                   \
	X(BLOCK, "block", 1)                                                                       \
	X(CLOCK, "clock", 2)                                                                       \
	X(AGENT, "agent", 3)                                                                       \
	X(HALT, "halt", 4)

/* Bits that have a name but no hook in v1: never offered, named in reports. */
#define PV_HOOKS_RESERVED(X) X(MEMREPORT, "memreport", 5)

#define PV_HOOK_ENUM_(id, name, bit) PV_HOOK_##id = (bit),
#define PV_HOOK_ONE_(id, name, bit)  +1
#define PV_HOOK_MASK_(id, name, bit) | PV_F(bit)
#define PV_HOOK_CASE_(id, name, bit)                                                               \
	case (bit):                                                                                \
		return name;
#define PV_HOOK_LISTED_(id, name, bit) ", " name

enum pv_hook { PV_HOOKS(PV_HOOK_ENUM_) PV_HOOKS_RESERVED(PV_HOOK_ENUM_) };
enum { PV_HOOK_COUNT = 0 PV_HOOKS(PV_HOOK_ONE_) }; /* bits >= PV_HOOK_COUNT are reserved */

#define PV_F(hook)  (1ull << (hook))
#define PV_F_ALL_V1 (0 PV_HOOKS(PV_HOOK_MASK_))

/* "console, block, clock, agent, halt", for messages. */
#define PV_HOOK_NAMES (&(PV_HOOKS(PV_HOOK_LISTED_))[2])

/* Tables indexed by bit need the bits dense: 0..PV_HOOK_COUNT-1, each once. */
_Static_assert(PV_F_ALL_V1 == (1ull << PV_HOOK_COUNT) - 1, "PV_HOOKS: bits must be 0..N-1");

/* The name of a v1 hook bit ("console"); NULL for any other bit. */
static inline const char *pv_hook_name(unsigned int bit)
{
	switch (bit) {
		PV_HOOKS(PV_HOOK_CASE_)
	}
	return NULL;
}

/* The bit of the v1 hook named by the len bytes at name (no NUL needed), or -1. */
static inline int pv_hook_bit(const char *name, size_t len)
{
	for (unsigned int b = 0; b < PV_HOOK_COUNT; b++) {
		const char *n = pv_hook_name(b);
		size_t nlen = 0, i = 0;

		while (n[nlen])
			nlen++;
		while (i < len && i < nlen && n[i] == name[i])
			i++;
		if (i == len && i == nlen)
			return (int)b;
	}
	return -1;
}

/* ---- guest memory layout set by the VMM ------------------------------- */

/*
 * Identity-mapped (virtual == physical). Pages below PV_IMAGE_MIN hold the
 * page tables, GDT, TSSs, IDT, fault stubs and CPL0 stacks (supervisor-only)
 * and the boot-info page (user, read-only). Page 0 is unmapped.
 */
/* The last page below the image: above vm.mmap_min_addr (64 KiB on most
 * distributions), so the process platform can map it too. ABI v1 guests
 * find it in %rdi, never at a fixed address; it was at 0x1000 before. */
#define PV_BOOT_INFO_GPA 0x1ff000ull
#define PV_IMAGE_MIN	 0x200000ull /* images load at or above 2 MiB */
#define PV_PAGE_SIZE	 4096u

/*
 * The MMIO window: one 2 MiB user page at 4 GiB, above the largest RAM, with
 * no memory behind it, so every access exits to the VMM's MMIO bus.
 * Addresses no device claims read all ones; writes to them are dropped.
 */
#define PV_MMIO_GPA  0x100000000ull
#define PV_MMIO_SIZE 0x200000ull

/* ---- I/O ports -------------------------------------------------------- */

#define PV_PORT_POWEROFF  0x500 /* outl: exit code; ends the run */
#define PV_PORT_FAULT	  0x504 /* outl by the VMM's CPL0 fault stubs: vector */
#define PV_PORT_NEGOTIATE 0x508 /* outl: hook page GPA >> 12 (0 = reset); inl: last reason */
#define PV_PORT_DOORBELL  0x50c /* outl: hook id (PV_HOOK_*) */

/* Emulated twins (no pv): 8250 UART at COM1, PIT, CMOS, a port-I/O block device. */
#define PV_PORT_COM1	  0x3f8
#define PV_PORT_PIT_CH0	  0x40
#define PV_PORT_PIT_CMD	  0x43
#define PV_PORT_CMOS_IDX  0x70
#define PV_PORT_CMOS_DATA 0x71
#define PV_PORT_BLK_LBA	  0x520 /* outl: sector number (low 32 bits) */
#define PV_PORT_BLK_CMD	  0x524 /* outl: PV_BLK_CMD_*; inl: PV_BLK_ST_* of the last command */
#define PV_PORT_BLK_DATA  0x528 /* rep insl/outsl: one sector (128 dwords) */
#define PV_PORT_BLK_SIZE  0x52c /* inl: capacity in sectors (low 32 bits) */

#define PV_BLK_CMD_READ	 1u /* fills the data buffer from sector LBA */
#define PV_BLK_CMD_WRITE 2u /* writes the data buffer to sector LBA */
#define PV_BLK_ST_OK	 0u
#define PV_BLK_ST_ERR	 1u
#define PV_SECTOR_SIZE	 512u

/* ---- CPUID (visible at CPL0 and on VMX/SVM hosts; KVM's 0x40000000/1 stay) */

#define PV_CPUID_BASE	  0x40000100u /* eax: highest pvm leaf; ebx,ecx,edx: "pvmHooksABI1" */
#define PV_CPUID_FEATURES 0x40000101u /* eax: ABI version, ebx: min version, ecx:edx offered */
#define PV_CPUID_SIG_EBX  0x486d7670u /* "pvmH" */
#define PV_CPUID_SIG_ECX  0x736b6f6fu /* "ooks" */
#define PV_CPUID_SIG_EDX  0x31494241u /* "ABI1" */

/* ---- boot-info page (at PV_BOOT_INFO_GPA; %rdi at entry) --------------- */

#define PV_BOOT_MAGIC  0x424d5650u /* "PVMB" */
#define PV_CMDLINE_MAX 1024u
#define PV_BOOT_F_STOP 1u /* host asks the guest to power off (graceful stop) */

struct pv_boot_info {
	uint32_t magic;		      /* 0x000 PV_BOOT_MAGIC */
	uint32_t size;		      /* 0x004 sizeof(struct pv_boot_info) */
	uint32_t abi_version;	      /* 0x008 host's highest ABI version */
	uint32_t abi_version_min;     /* 0x00c host's lowest accepted version */
	uint64_t offered;	      /* 0x010 hook bits the host offers */
	uint64_t mem_bytes;	      /* 0x018 guest RAM size */
	uint32_t vcpus;		      /* 0x020 number of vCPUs */
	uint32_t cmdline_len;	      /* 0x024 bytes in cmdline, without NUL */
	uint64_t free_start;	      /* 0x028 first free byte after the image (page aligned) */
	uint64_t free_end;	      /* 0x030 end of free RAM (below the stacks) */
	uint64_t disk_sectors;	      /* 0x038 block device size in sectors (0: no disk) */
	uint32_t host_flags;	      /* 0x040 PV_BOOT_F_*, written by the host at any time */
	uint32_t rsvd0;		      /* 0x044 */
	uint64_t rsvd[7];	      /* 0x048 */
	char cmdline[PV_CMDLINE_MAX]; /* 0x080 NUL-terminated */
};

/* ---- negotiation: the hook page (guest memory, 4 KiB aligned) --------- */

#define PV_HOOK_MAGIC 0x4b4f4f48u /* "HOOK" */

/* Ring ids in pv_hook_page.rings */
#define PV_RING_CONSOLE	 0u
#define PV_RING_BLOCK	 1u
#define PV_RING_AGENT_TX 2u /* guest -> host bytes */
#define PV_RING_AGENT_RX 3u /* host -> guest bytes: the guest posts empty buffers */
#define PV_RING_COUNT	 4u
#define PV_RING_MAX_SIZE 1024u /* entries; sizes are powers of two */

struct pv_ring_reg {
	uint64_t gpa;  /* ring header, 64-byte aligned */
	uint32_t size; /* number of descriptors, power of two, 1..PV_RING_MAX_SIZE */
	uint32_t rsvd;
};

/* Negotiation results in pv_hook_page.reason and from inl(PV_PORT_NEGOTIATE) */
#define PV_REASON_OK	      0u
#define PV_REASON_BAD_PAGE    1u /* hook page GPA outside guest RAM or not user RAM */
#define PV_REASON_BAD_MAGIC   2u
#define PV_REASON_VERSION_OLD 3u	  /* guest version < host minimum */
#define PV_REASON_VERSION_NEW 4u	  /* guest version > host maximum */
#define PV_REASON_FEATURES    5u	  /* accepted bits the host did not offer */
#define PV_REASON_ALREADY     6u	  /* already negotiated: reset first */
#define PV_REASON_BAD_RING    7u	  /* a ring of an accepted hook is missing or invalid */
#define PV_REASON_BAD_CLOCK   8u	  /* clock page GPA invalid */
#define PV_REASON_NONE	      0xffffffffu /* nothing negotiated yet */

struct pv_hook_page {
	uint32_t magic;	      /* 0x000 guest: PV_HOOK_MAGIC */
	uint32_t abi_version; /* 0x004 guest: the version it speaks */
	uint64_t accepted;    /* 0x008 guest: subset of offered bits */
	uint32_t status;      /* 0x010 host: 1 accepted, 2 refused */
	uint32_t reason;      /* 0x014 host: PV_REASON_* */
	uint64_t negotiated;  /* 0x018 host: bits in force */
	uint64_t clock_gpa;   /* 0x020 guest: clock page (4 KiB aligned) if PV_HOOK_CLOCK */
	uint32_t halt_us;     /* 0x028 guest: longest sleep for a halt doorbell */
	uint32_t rsvd0;	      /* 0x02c */
	struct pv_ring_reg rings[PV_RING_COUNT]; /* 0x030 guest */
	uint32_t served[8];	/* 0x070 host: bumped after each doorbell of hook i is served */
	uint32_t hook_error[8]; /* 0x090 host: last PV_ST_* error of hook i (0: none) */
	uint64_t clock_reads;	/* 0x0b0 guest: informational, the guest's own word */
	uint64_t work_ns;	/* 0x0b8 guest: informational, a workload's own duration */
};

#define PV_NEG_ACCEPTED 1u
#define PV_NEG_REFUSED	2u

/* ---- descriptor rings ------------------------------------------------- */

/*
 * A ring is a header followed by `size` descriptors. The guest fills
 * desc[prod % size] and then advances prod (free running); a doorbell asks the
 * host to serve desc[cons % size] .. prod, writing status/done into each and
 * advancing cons. prod - cons > size is a bad index: nothing is served.
 */
struct pv_ring_hdr {
	uint32_t prod; /* guest */
	uint32_t cons; /* host */
	uint32_t rsvd[14];
};

struct pv_desc {
	uint64_t addr;	 /* guest buffer GPA */
	uint32_t len;	 /* bytes */
	uint16_t op;	 /* PV_OP_* */
	uint16_t status; /* host: PV_ST_* */
	uint64_t sector; /* block: first sector */
	uint32_t done;	 /* host: bytes transferred */
	uint32_t rsvd;
};

#define PV_OP_WRITE 1u /* guest -> host (console, block, agent tx) */
#define PV_OP_READ  2u /* host -> guest (block, agent rx) */

#define PV_ST_PENDING	     0u /* what the guest writes before posting */
#define PV_ST_OK	     1u
#define PV_ST_BAD_ADDR	     2u /* buffer outside guest RAM or wrapping */
#define PV_ST_BAD_LEN	     3u
#define PV_ST_BAD_INDEX	     4u /* ring prod/cons out of range */
#define PV_ST_BAD_OP	     5u
#define PV_ST_NOT_NEGOTIATED 6u
#define PV_ST_IO	     7u /* host I/O error */
#define PV_ST_UNKNOWN_HOOK   8u
#define PV_ST_BAD_SECTOR     9u

#define PV_BLOCK_MAX_LEN (1u << 20) /* bytes per block descriptor */

/* ---- clock page (guest memory; written by the host at negotiation) ---- */

/*
 * ns = ns_base + (((rdtsc() - tsc_base) * mul) >> shift), the host's
 * CLOCK_MONOTONIC. Read under seq: retry while seq is odd or changed.
 */
struct pv_clock_page {
	uint32_t seq;	   /* 0x00 */
	uint32_t shift;	   /* 0x04 */
	uint64_t mul;	   /* 0x08 */
	uint64_t tsc_base; /* 0x10 */
	uint64_t ns_base;  /* 0x18 */
	uint64_t tsc_khz;  /* 0x20 */
};

/* ---- host side: what the emulated twins cost (not guest ABI) --------- */

/*
 * The vCPU exits the VMM takes for one unit of work on a hook's emulated
 * twin: the UART one per byte written, the port-I/O block device three per
 * 512-byte sector, the PIT three per read (latch, low byte, high byte).
 * hv/ counts exits avoided with them, the scheduler's simulator charges
 * them, and tests/hv (twin_costs_measured) measures them on real guests.
 */
#define PV_TWIN_EXITS_PER_CONSOLE_BYTE 1
#define PV_TWIN_EXITS_PER_BLOCK_SECTOR 3
#define PV_TWIN_EXITS_PER_CLOCK_READ   3

#endif /* PVM_PV_ABI_H */
