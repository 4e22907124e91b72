/* SPDX-License-Identifier: MIT */
/*
 * hv platforms: what runs a vCPU. Everything above this table (devices, the
 * bus, pv hooks, statistics, the control socket, the agent) is the same on
 * every platform; a platform turns the guest's privileged actions into the
 * exits below, as KVM_RUN does.
 *   kvm      /dev/kvm (plat_kvm.c)
 *   process  the guest in a confined host process (plat_process.c, stub/)
 * Internal to hv/.
 */
#ifndef PVM_HV_PLATFORM_H
#define PVM_HV_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/common.h"

struct hv_vm;
struct hv_vcpu;

/* General registers, in struct kvm_regs order. */
struct hv_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

enum hv_exit_reason {
	HV_EXIT_R_IO = 1,    /* port I/O: io */
	HV_EXIT_R_MMIO,	     /* an access to guest-physical space with no RAM: mmio */
	HV_EXIT_R_HLT,	     /* hlt with interrupts off (CPL0 only) */
	HV_EXIT_R_FAULT,     /* a CPU exception the guest cannot handle: fault */
	HV_EXIT_R_SHUTDOWN,  /* triple fault */
	HV_EXIT_R_INTR,	     /* kicked out of the guest (pause, stop, stats) */
	HV_EXIT_R_SYSCALL,   /* the guest tried a system call (process platform): fault, msg */
	HV_EXIT_R_EMULATION, /* an instruction the platform cannot emulate, failed entry: msg */
	HV_EXIT_R_ERROR,     /* the platform itself failed: msg */
};

struct hv_exit {
	enum hv_exit_reason reason;
	struct {
		uint16_t port;
		bool out;
		uint32_t size;	/* 1, 2 or 4 */
		uint32_t count; /* > 1 for rep ins/outs */
		uint8_t *data;	/* size * count bytes; an in's answer goes here */
	} io;
	struct {
		uint64_t addr;
		bool write;
		uint32_t len;  /* 1, 2, 4 or 8 */
		uint8_t *data; /* len bytes; a read's answer goes here */
	} mmio;
	struct {
		uint32_t vector;
		uint64_t rip, error_code, cr2, rflags;
	} fault;
	char msg[192];
};

/* A fresh exit: every field zero, an empty message (the message's bytes untouched). */
static inline void hv_exit_clear(struct hv_exit *ex)
{
	memset(ex, 0, offsetof(struct hv_exit, msg));
	ex->msg[0] = 0;
}

/*
 * The ops table. Calls return 0 or a negative errno (with err filled where it
 * takes one). vcpu_run completes the previous exit (an in's or MMIO read's
 * answer in its data) and runs the vCPU until the next one.
 */
struct hv_platform {
	const char *name;
	/* Makes the VM and its guest memory (vm->mem, vm->mem_size bytes, zeroed). */
	int (*vm_init)(struct hv_vm *vm, struct pvm_err *err);
	/* The vCPU's 64-bit CPL3 entry state: rip vm->entry, rsp its stack, rdi boot info. */
	int (*vcpu_init)(struct hv_vcpu *cpu, struct pvm_err *err);
	/* A doorbell write of hook signals efd and the vCPU goes on (KVM_IOEVENTFD). */
	int (*doorbell_async)(struct hv_vm *vm, unsigned int hook, int efd);
	/* Once, before the vCPU threads start (the process platform's guest process). */
	int (*vm_start)(struct hv_vm *vm, struct pvm_err *err);
	/* On the vCPU's own thread, before its first run. */
	int (*vcpu_thread_init)(struct hv_vcpu *cpu);
	int (*vcpu_run)(struct hv_vcpu *cpu, struct hv_exit *exit);
	/* Makes a running vcpu_run return HV_EXIT_R_INTR soon; any thread. */
	void (*vcpu_kick)(struct hv_vcpu *cpu);
	/* Registers of a vCPU that is out of the guest (between runs). */
	int (*get_regs)(struct hv_vcpu *cpu, struct hv_regs *regs);
	int (*set_regs)(struct hv_vcpu *cpu, const struct hv_regs *regs);
	/* The guest's TSC now and its rate, for the clock page (on the vCPU's thread). */
	int (*tsc)(struct hv_vcpu *cpu, uint64_t *tsc, uint64_t *khz);
	/* After the vCPU threads have ended. */
	void (*vm_stop)(struct hv_vm *vm);
	/* Frees what vm_init and vcpu_init made (also after a failed create). */
	void (*vm_free)(struct hv_vm *vm);
};

extern const struct hv_platform hv_platform_kvm;
extern const struct hv_platform hv_platform_process;

/* The vCPU's KVM file descriptor (kvm platform only): tests read KVM's own state. */
int hv_kvm_vcpu_fd(struct hv_vcpu *cpu);

#endif /* PVM_HV_PLATFORM_H */
