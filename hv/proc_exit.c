// SPDX-License-Identifier: MIT
/*
 * The process platform's exits: a signal the guest's vCPU thread took (its
 * siginfo, trap number, error code and registers, posted by the stub) becomes
 * the exit KVM would have produced: port I/O and hlt arrive as #GP
 * (SIGSEGV, SI_KERNEL, trap 13) and are told apart by decoding the bytes at
 * rip; MMIO is a page fault inside the window; the rest are CPU exceptions.
 * Everything read here comes from the guest's address space: each address
 * and length is checked against guest memory before use.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <linux/audit.h>

#include "hv/proc.h"

#define RFLAGS_DF 0x400ull

static uint64_t *gpr(struct hv_regs *r, int n)
{
	uint64_t *const map[16] = {
	    &r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
	    &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return map[n & 15];
}

/*
 * Guest memory the guest itself can reach (what its page tables map on the
 * kvm platform): RAM from PV_IMAGE_MIN to mapped_end, and the boot-info page
 * for reading.
 */
static bool user_range(struct hv_vm *vm, uint64_t gva, uint64_t len, bool write)
{
	if (gva >= PV_IMAGE_MIN && gva < vm->mapped_end && len <= vm->mapped_end - gva)
		return true;
	return !write && gva >= PV_BOOT_INFO_GPA && gva < PV_BOOT_INFO_GPA + PV_PAGE_SIZE &&
	       len <= PV_BOOT_INFO_GPA + PV_PAGE_SIZE - gva;
}

/* Up to 15 instruction bytes at rip; 0 when rip is not in the guest's RAM. */
static size_t code_at(struct hv_vm *vm, uint64_t rip, uint8_t *buf)
{
	size_t n = 15;

	if (rip < PV_IMAGE_MIN || rip >= vm->mapped_end)
		return 0;
	if (vm->mapped_end - rip < n)
		n = (size_t)(vm->mapped_end - rip);
	memcpy(buf, vm->mem + rip, n);
	return n;
}

static void fault(struct hv_proc_vcpu *pc, struct hv_exit *ex, uint32_t vector, uint64_t cr2)
{
	ex->reason = HV_EXIT_R_FAULT;
	ex->fault.vector = vector;
	ex->fault.rip = pc->regs.rip;
	ex->fault.rflags = pc->regs.rflags;
	ex->fault.error_code = hv_vector_has_error_code(vector) ? pc->err : 0;
	ex->fault.cr2 = cr2;
}

static void emulation_failure(struct hv_proc_vcpu *pc, struct hv_exit *ex, const uint8_t *code,
			      size_t n, const char *what)
{
	int off;

	ex->reason = HV_EXIT_R_EMULATION;
	off = snprintf(ex->msg, sizeof(ex->msg), "process platform: %s at rip 0x%llx, bytes", what,
		       (unsigned long long)pc->regs.rip);
	for (size_t i = 0; i < n && off > 0 && (size_t)off < sizeof(ex->msg) - 4; i++)
		off += snprintf(ex->msg + off, sizeof(ex->msg) - (size_t)off, " %02x", code[i]);
}

static void io_exit(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex,
		    const uint8_t *code, size_t n)
{
	struct hv_insn *in = &pc->insn;
	uint64_t count, bytes;

	ex->reason = HV_EXIT_R_IO;
	ex->io.port = in->imm_port ? in->port : (uint16_t)pc->regs.rdx;
	ex->io.out = in->out;
	ex->io.size = in->size;
	ex->io.count = 1;
	ex->io.data = pc->iobuf;
	if (!in->string) {
		if (in->out)
			memcpy(pc->iobuf, &pc->regs.rax, in->size);
		pc->pending = in->out ? HV_PROC_STEP : HV_PROC_IO_IN;
		return;
	}
	if (pc->regs.rflags & RFLAGS_DF) {
		emulation_failure(pc, ex, code, n, "ins/outs with the direction flag set");
		return;
	}
	count = in->rep ? pc->regs.rcx : 1;
	if (count > HV_PROC_IOBUF / in->size)
		count = HV_PROC_IOBUF / in->size;
	bytes = count * in->size;
	pc->str_addr = in->out ? pc->regs.rsi : pc->regs.rdi;
	pc->str_n = (uint32_t)count;
	if (!user_range(cpu->vm, pc->str_addr, bytes, !in->out)) {
		pc->err = 4 | (in->out ? 0 : 2); /* user, write for ins */
		fault(pc, ex, 14, pc->str_addr);
		return;
	}
	if (in->out)
		memcpy(pc->iobuf, cpu->vm->mem + pc->str_addr, bytes);
	ex->io.count = (uint32_t)count;
	pc->pending = HV_PROC_STRING;
}

static void mmio_exit(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex)
{
	struct hv_insn *in = &pc->insn;
	uint8_t code[15];
	size_t n = code_at(cpu->vm, pc->regs.rip, code);

	if (!n || hv_decode_mmio(code, n, in) != 0) {
		emulation_failure(pc, ex, code, n, "an MMIO access that is not a plain mov");
		return;
	}
	ex->reason = HV_EXIT_R_MMIO;
	ex->mmio.addr = pc->addr;
	ex->mmio.write = in->write;
	ex->mmio.len = in->msize;
	ex->mmio.data = pc->mmio;
	memset(pc->mmio, 0, sizeof(pc->mmio));
	if (in->write) {
		uint64_t v = in->reg < 0 ? in->imm : *gpr(&pc->regs, in->reg);

		if (in->reg >= 0 && in->high8)
			v = *gpr(&pc->regs, in->reg - 4) >> 8;
		memcpy(pc->mmio, &v, in->msize);
		pc->pending = HV_PROC_STEP;
	} else {
		pc->pending = HV_PROC_MMIO_READ;
	}
}

static void gp_exit(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex)
{
	uint8_t code[15];
	size_t n = code_at(cpu->vm, pc->regs.rip, code);

	/* hlt, cli, int $n and the like at CPL3: #GP, as on the kvm platform */
	if (!n || hv_decode_io(code, n, &pc->insn) != 0) {
		fault(pc, ex, 13, 0);
		return;
	}
	io_exit(cpu, pc, ex, code, n);
}

static const char *syscall_insn(struct hv_vm *vm, uint64_t after)
{
	const uint8_t *p;

	if (after < 2 || !user_range(vm, after - 2, 2, false))
		return "a system call instruction";
	p = vm->mem + after - 2;
	if (p[0] == 0x0f && p[1] == 0x05)
		return "syscall";
	if (p[0] == 0x0f && p[1] == 0x34)
		return "sysenter";
	if (p[0] == 0xcd && p[1] == 0x80)
		return "int $0x80";
	return "a system call instruction";
}

static void syscall_exit(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex)
{
	ex->reason = HV_EXIT_R_SYSCALL;
	ex->fault.rip = pc->addr;
	snprintf(ex->msg, sizeof(ex->msg),
		 "system call %d (%s, %s ABI) at rip 0x%llx: guests make no system calls",
		 pc->syscall, syscall_insn(cpu->vm, pc->addr),
		 pc->arch == AUDIT_ARCH_X86_64 ? "x86-64" : "i386", (unsigned long long)pc->addr);
}

bool hv_proc_translate(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc, struct hv_exit *ex)
{
	hv_exit_clear(ex);
	pc->pending = HV_PROC_NONE;
	switch (pc->signo) {
	case SIGUSR1:
		ex->reason = HV_EXIT_R_INTR;
		break;
	case SIGSEGV:
		if (pc->trapno == 14 && pc->addr >= PV_MMIO_GPA &&
		    pc->addr - PV_MMIO_GPA < PV_MMIO_SIZE)
			mmio_exit(cpu, pc, ex);
		else if (pc->trapno == 14)
			fault(pc, ex, 14, pc->addr);
		else if (pc->trapno == 13 && pc->code == SI_KERNEL)
			gp_exit(cpu, pc, ex);
		else
			fault(pc, ex, pc->trapno < HV_FAULT_VECTORS ? (uint32_t)pc->trapno : 13, 0);
		break;
	case SIGTRAP:
		fault(pc, ex, pc->trapno == 1 ? 1 : 3, 0);
		break;
	case SIGILL:
		fault(pc, ex, 6, 0);
		break;
	case SIGFPE:
		fault(pc, ex, pc->trapno == 16 || pc->trapno == 19 ? (uint32_t)pc->trapno : 0, 0);
		break;
	case SIGBUS:
		fault(pc, ex, pc->trapno == 17 ? 17 : 14, pc->addr);
		break;
	case SIGSYS:
		syscall_exit(cpu, pc, ex);
		break;
	default:
		ex->reason = HV_EXIT_R_ERROR;
		snprintf(ex->msg, sizeof(ex->msg), "process platform: unexpected signal %d",
			 pc->signo);
		break;
	}
	/* a rep ins/outs with rcx 0 moves nothing and only steps */
	if (ex->reason == HV_EXIT_R_IO && ex->io.count == 0)
		return false;
	return true;
}

static void load_reg(struct hv_proc_vcpu *pc)
{
	struct hv_insn *in = &pc->insn;
	uint64_t v = 0, *r;

	memcpy(&v, pc->mmio, in->msize);
	if (in->sext && in->msize < 8) {
		unsigned int sh = 64 - 8 * in->msize;

		v = (uint64_t)((int64_t)(v << sh) >> sh);
	}
	if (in->high8) {
		r = gpr(&pc->regs, in->reg - 4);
		*r = (*r & ~0xff00ull) | ((v & 0xff) << 8);
		return;
	}
	r = gpr(&pc->regs, in->reg);
	switch (in->dsize) {
	case 1:
		*r = (*r & ~0xffull) | (v & 0xff);
		break;
	case 2:
		*r = (*r & ~0xffffull) | (v & 0xffff);
		break;
	case 4:
		*r = v & 0xffffffffull;
		break;
	default:
		*r = v;
		break;
	}
}

void hv_proc_complete(struct hv_vcpu *cpu, struct hv_proc_vcpu *pc)
{
	struct hv_insn *in = &pc->insn;
	uint64_t bytes;

	switch (pc->pending) {
	case HV_PROC_NONE:
		return;
	case HV_PROC_STEP:
		break;
	case HV_PROC_IO_IN:
		if (in->size == 4)
			pc->regs.rax = 0;
		memcpy(&pc->regs.rax, pc->iobuf, in->size);
		break;
	case HV_PROC_STRING:
		bytes = (uint64_t)pc->str_n * in->size;
		if (!in->out)
			memcpy(cpu->vm->mem + pc->str_addr, pc->iobuf, bytes);
		if (in->out)
			pc->regs.rsi += bytes;
		else
			pc->regs.rdi += bytes;
		if (in->rep) {
			pc->regs.rcx -= pc->str_n;
			/* the rest of a long rep traps again, as KVM re-enters it */
			if (pc->regs.rcx) {
				pc->pending = HV_PROC_NONE;
				return;
			}
		}
		break;
	case HV_PROC_MMIO_READ:
		load_reg(pc);
		break;
	}
	pc->regs.rip += in->len;
	pc->pending = HV_PROC_NONE;
}
