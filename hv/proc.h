/* SPDX-License-Identifier: MIT */
/* The process platform's VMM side, shared by plat_process.c and proc_exit.c. Internal to hv/. */
#ifndef PVM_HV_PROC_H
#define PVM_HV_PROC_H

#include "hv/decode.h"
#include "hv/stub/stub_abi.h"
#include "hv/vm.h"

#define HV_PROC_IOBUF 4096 /* bytes of one rep ins/outs exit, as KVM's I/O page */

/* What the next run must finish before the guest resumes (the exit's answer). */
enum hv_proc_pending {
	HV_PROC_NONE = 0,
	HV_PROC_STEP,	   /* step over the instruction */
	HV_PROC_IO_IN,	   /* in: iobuf into rax, step */
	HV_PROC_STRING,	   /* ins/outs: memory, rsi/rdi/rcx, step once rcx is 0 */
	HV_PROC_MMIO_READ, /* mmio into the destination register, step */
};

struct hv_proc_vcpu {
	struct hv_stub_vcpu *slot; /* shared with the guest process: untrusted */
	struct hv_regs regs;	   /* the VMM's copy between runs */
	bool entered;
	uint64_t spin_ns; /* this vCPU's adaptive spin budget (plat_process.c) */
	uint64_t kick_ns; /* when an unanswered kick was sent, 0: none (atomic) */
	/* the exit being handled, read once from the slot */
	int32_t signo, code;
	uint64_t addr, trapno, err;
	int32_t syscall;
	uint32_t arch;
	enum hv_proc_pending pending;
	struct hv_insn insn;
	uint64_t str_addr; /* ins/outs: the guest buffer of this exit */
	uint32_t str_n;	   /* items in this exit */
	uint8_t mmio[8];
	uint8_t iobuf[HV_PROC_IOBUF];
};

/* Turns the exit in pc into *ex; false when it needed no VMM service (run again). */
bool hv_proc_translate(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex);
/* Applies the answer of the last exit to pc->regs and guest memory. */
void hv_proc_complete(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc);

#endif /* PVM_HV_PROC_H */
