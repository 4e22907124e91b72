/* SPDX-License-Identifier: MIT */
/*
 * What pvm-vmm and the process platform's stub share: the descriptors the
 * stub starts with, where it maps things, and the shared area through which
 * each vCPU thread hands its exits to the VMM. Freestanding (<stdint.h> only).
 *
 * Everything in the shared area is writable by the guest (it lives in the
 * guest's address space): the VMM reads it as untrusted input. The seccomp
 * filter the stub installs is the boundary, not this layout.
 */
#ifndef PVM_HV_STUB_ABI_H
#define PVM_HV_STUB_ABI_H

#include <stdint.h>

#define HV_STUB_MAGIC	0x42545350u /* "PSTB" */
#define HV_STUB_VERSION 1u

/* Descriptors the stub is started with; nothing else is open. */
#define HV_STUB_FD_RAM	    3 /* memfd: guest RAM, file offset == guest-physical address */
#define HV_STUB_FD_SHARED   4 /* memfd: the shared area below */
#define HV_STUB_FD_DOORBELL 5 /* 5 + hook: eventfd of an asynchronous hook */
#define HV_STUB_FD_NR	    16

/* The stub's own text and data (stub.ld) and the shared area, far above
 * guest-physical space (RAM <= 4 GiB, the MMIO window at 4 GiB). */
#define HV_STUB_TEXT_GVA   0x7e0000000000ull
#define HV_STUB_TEXT_MAX   0x100000ull /* the filter allows syscalls from here only */
#define HV_STUB_SHARED_GVA 0x7e1000000000ull

/* Per vCPU: one page of exchange, then the thread's stack and its signal stack. */
#define HV_STUB_VCPU_SIZE  0x40000ull
#define HV_STUB_STACK_OFF  0x1000ull
#define HV_STUB_SIGSTK_OFF 0x20000ull
#define HV_STUB_SIGSTK_LEN 0x20000ull

#define HV_STUB_MAX_VCPUS 16

/* hv_stub_vcpu.state, a futex word shared by two processes */
#define HV_STUB_ST_IDLE 0u /* the thread has not trapped yet */
#define HV_STUB_ST_EXIT 1u /* the stub posted an exit; the VMM owns the record */
#define HV_STUB_ST_RUN	2u /* the VMM answered: resume with regs */
#define HV_STUB_ST_DEAD 3u /* the VMM's own mark: the guest process is gone */
#define HV_STUB_ST_TAKEN 4u /* the VMM is serving the exit: its answer is near */

/* ucontext gregs order (REG_R8 .. REG_EFL): what the stub copies each way */
#define HV_STUB_NREGS 18
enum hv_stub_reg {
	HV_STUB_R8 = 0,
	HV_STUB_R9,
	HV_STUB_R10,
	HV_STUB_R11,
	HV_STUB_R12,
	HV_STUB_R13,
	HV_STUB_R14,
	HV_STUB_R15,
	HV_STUB_RDI,
	HV_STUB_RSI,
	HV_STUB_RBP,
	HV_STUB_RBX,
	HV_STUB_RDX,
	HV_STUB_RAX,
	HV_STUB_RCX,
	HV_STUB_RSP,
	HV_STUB_RIP,
	HV_STUB_EFL,
};

/* At HV_STUB_SHARED_GVA + HV_STUB_VCPU_SIZE * (1 + i). */
struct hv_stub_vcpu {
	uint32_t state; /* HV_STUB_ST_* */
	uint32_t tid;	/* the thread's id, for the VMM's kicks */
	int32_t signo;	/* what trapped: the signal and its siginfo */
	int32_t code;
	uint64_t addr;	    /* si_addr (faults) or si_call_addr (SIGSYS) */
	int32_t syscall;    /* SIGSYS: si_syscall */
	uint32_t arch;	    /* SIGSYS: si_arch */
	uint64_t trapno;    /* gregs REG_TRAPNO */
	uint64_t err;	    /* gregs REG_ERR */
	uint64_t exits;	    /* exits posted (the stub's count, informational) */
	uint64_t doorbells; /* asynchronous doorbells rung without an exit (informational) */
	uint64_t regs[HV_STUB_NREGS];
};

/* At HV_STUB_SHARED_GVA: written by the VMM before the stub starts. */
struct hv_stub_setup {
	uint32_t magic;	  /* HV_STUB_MAGIC */
	uint32_t version; /* HV_STUB_VERSION */
	uint32_t nvcpus;
	uint32_t ready; /* futex: the stub's setup step; HV_STUB_READY when done */
	int32_t error;	/* the stub's -errno when setup failed at step `ready` */
	uint32_t rsvd;
	uint64_t ram_start; /* [ram_start, ram_end) mapped read/write/execute */
	uint64_t ram_end;
	uint64_t boot_gpa;   /* one page mapped read-only */
	uint64_t async_mask; /* hooks whose doorbell writes HV_STUB_FD_DOORBELL + hook */
	uint64_t shared_size;
	uint32_t doorbell_port;
	uint32_t hooks; /* number of hooks (bounds async_mask) */
	uint32_t flags; /* HV_STUB_F_* */
	uint32_t rsvd1;
	uint64_t ns_ok;	      /* namespaces the VMM could make (informational) */
	uint64_t spin_cycles; /* TSC cycles a vCPU thread spins for the VMM's answer before
			       * sleeping on its futex (0 on a single-CPU host) */
};

#define HV_STUB_READY 0x100u

#endif /* PVM_HV_STUB_ABI_H */
