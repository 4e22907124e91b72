// SPDX-License-Identifier: MIT
/* vCPUs: CPUID, the CPL3 64-bit entry state, the run loop and fault reports. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "hv/vm.h"

#define CR0_PE	       0x1ull
#define CR0_MP	       0x2ull
#define CR0_ET	       0x10ull
#define CR0_NE	       0x20ull
#define CR0_WP	       0x10000ull
#define CR0_AM	       0x40000ull
#define CR0_PG	       0x80000000ull
#define CR4_PAE	       0x20ull
#define CR4_OSFXSR     0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_SCE       0x1ull
#define EFER_LME       0x100ull
#define EFER_LMA       0x400ull
#define EFER_NXE       0x800ull
#define RFLAGS_IOPL3   0x3000ull

static int set_cpuid(struct hv_vm *vm, int fd, struct pvm_err *err)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int nent = 64, ret;

	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + (size_t)(nent + 2) * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return pvm_err_set(err, -ENOMEM, "cpuid: out of memory");
		cpuid->nent = (uint32_t)nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			ret = pvm_err_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %s",
					  strerror(errno));
			goto out;
		}
		nent *= 2;
	}
	/* KVM's own 0x40000000/0x40000001 stay; pvm's range sits beside them. */
	cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
	    .function = PV_CPUID_BASE,
	    .eax = PV_CPUID_FEATURES,
	    .ebx = PV_CPUID_SIG_EBX,
	    .ecx = PV_CPUID_SIG_ECX,
	    .edx = PV_CPUID_SIG_EDX,
	};
	cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
	    .function = PV_CPUID_FEATURES,
	    .eax = PV_ABI_VERSION,
	    .ebx = PV_ABI_VERSION_MIN,
	    .ecx = (uint32_t)vm->cfg.offered,
	    .edx = (uint32_t)(vm->cfg.offered >> 32),
	};
	ret = 0;
	if (ioctl(fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = pvm_err_set(err, -errno, "KVM_SET_CPUID2: %s", strerror(errno));
out:
	free(cpuid);
	return ret;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl, bool code)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = type,
	    .present = 1,
	    .dpl = dpl,
	    .db = code ? 0 : 1,
	    .s = 1,
	    .l = code ? 1 : 0,
	    .g = 1,
	};
}

static int set_entry_state(struct hv_vm *vm, struct hv_vcpu *cpu, struct pvm_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {0};
	struct kvm_fpu fpu = {0};

	if (ioctl(cpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return pvm_err_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	seg(&sregs.cs, 0x20 | 3, 11, 3, true);
	seg(&sregs.ds, 0x18 | 3, 3, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
	    .base = HV_TSS_GPA + cpu->id * HV_TSS_SIZE,
	    .limit = HV_TSS_LIMIT,
	    .selector = (uint16_t)(0x28 + cpu->id * 16),
	    .type = 11,
	    .present = 1,
	};
	sregs.ldt = (struct kvm_segment){.type = 2, .present = 1, .unusable = 1};
	sregs.gdt.base = HV_GDT_GPA;
	sregs.gdt.limit = (uint16_t)(0x28 + vm->nvcpus * 16 - 1);
	sregs.idt.base = HV_IDT_GPA;
	sregs.idt.limit = HV_FAULT_VECTORS * 16 - 1;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = HV_PML4_GPA;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	if (ioctl(cpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	regs.rip = vm->entry;
	regs.rsp = vm->mapped_end - (uint64_t)cpu->id * HV_USER_STACK;
	regs.rdi = PV_BOOT_INFO_GPA;
	regs.rsi = cpu->id;
	regs.rflags = 0x2 | RFLAGS_IOPL3;
	if (ioctl(cpu->fd, KVM_SET_REGS, &regs) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));

	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(cpu->fd, KVM_SET_FPU, &fpu) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_FPU: %s", strerror(errno));
	return 0;
}

int hv_vcpu_init(struct hv_vm *vm, unsigned int id, struct pvm_err *err)
{
	struct hv_vcpu *cpu = &vm->vcpus[id];
	int sz, ret;

	cpu->vm = vm;
	cpu->id = id;
	cpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (cpu->fd < 0)
		return pvm_err_set(err, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return pvm_err_set(err, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
	cpu->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, cpu->fd, 0);
	if (cpu->run == MAP_FAILED) {
		cpu->run = NULL;
		return pvm_err_set(err, -errno, "mmap kvm_run: %s", strerror(errno));
	}
	cpu->run_size = (size_t)sz;
	ret = set_cpuid(vm, cpu->fd, err);
	if (ret)
		return ret;
	return set_entry_state(vm, cpu, err);
}

static const char *const vector_names[HV_FAULT_VECTORS] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF(9)", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",    "#CP",
};

static bool has_error_code(uint32_t v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

void hv_vcpu_report_fault(struct hv_vcpu *cpu, uint32_t vector)
{
	struct hv_vm *vm = cpu->vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t frame[6] = {0}, err_code = 0, rip = 0;
	const char *name =
	    vector < HV_FAULT_VECTORS && vector_names[vector] ? vector_names[vector] : "?";
	void *p;

	if (ioctl(cpu->fd, KVM_GET_REGS, &regs) == 0 &&
	    ioctl(cpu->fd, KVM_GET_SREGS, &sregs) == 0) {
		/* only the VMM's CPL0 stubs report faults; a CPL3 write is just an
		 * access to a port that is not the guest's */
		if (sregs.cs.dpl != 0) {
			HV_STAT_ADD(vm->stats.io_exits[HV_IODEV_UNKNOWN], 1);
			return;
		}
		HV_STAT_ADD(vm->stats.io_exits[HV_IODEV_POWER], 1);
		p = hv_gpa(vm, regs.rsp, sizeof(frame));
		if (p)
			memcpy(frame, p, sizeof(frame));
		if (has_error_code(vector)) {
			err_code = frame[0];
			rip = frame[1];
		} else {
			rip = frame[0];
		}
		hv_vm_end(
		    vm, HV_EXIT_GUEST_FAULT,
		    "guest fault on vcpu %u: %s (vector %u) at rip 0x%llx, error code 0x%llx, "
		    "cr2 0x%llx, rflags 0x%llx",
		    cpu->id, name, vector, (unsigned long long)rip, (unsigned long long)err_code,
		    (unsigned long long)sregs.cr2,
		    (unsigned long long)frame[has_error_code(vector) ? 3 : 2]);
		return;
	}
	hv_vm_end(vm, HV_EXIT_GUEST_FAULT, "guest fault on vcpu %u: %s (vector %u)", cpu->id, name,
		  vector);
}

/* Parks while paused; returns false once the run is over. */
static bool wait_runnable(struct hv_vm *vm)
{
	bool go;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_req && !vm->done) {
		vm->vcpus_parked++;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_req && !vm->done)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->vcpus_parked--;
	}
	go = !vm->done;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static void handle_exit(struct hv_vcpu *cpu)
{
	struct hv_vm *vm = cpu->vm;
	struct kvm_run *run = cpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_IO], 1);
		if (run->io.port == PV_PORT_FAULT && run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.size == 4) {
			uint32_t v;

			memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
			hv_vcpu_report_fault(cpu, v);
			break;
		}
		hv_bus_io(vm, run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
			  (uint8_t *)run + run->io.data_offset, run->io.size, run->io.count);
		break;
	case KVM_EXIT_MMIO:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_MMIO], 1);
		/* the KVM ABI caps len at 8; clamping keeps mmio.data from overrunning anyway */
		hv_bus_mmio(vm, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data,
			    run->mmio.len > sizeof(run->mmio.data) ? sizeof(run->mmio.data)
								   : run->mmio.len);
		break;
	case KVM_EXIT_HLT:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_HLT], 1);
		hv_vm_end(vm, HV_EXIT_GUEST_FAULT, "guest halted with interrupts off on vcpu %u",
			  cpu->id);
		break;
	case KVM_EXIT_SHUTDOWN:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_SHUTDOWN], 1);
		hv_vm_end(vm, HV_EXIT_TRIPLE, "guest triple fault (KVM_EXIT_SHUTDOWN) on vcpu %u",
			  cpu->id);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_FAIL_ENTRY], 1);
		hv_vm_end(vm, HV_EXIT_EMULATION,
			  "KVM entry failed on vcpu %u: hardware reason 0x%llx", cpu->id,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_INTERNAL], 1);
		hv_vm_end(vm, HV_EXIT_EMULATION, "KVM internal error on vcpu %u: suberror %u (%s)",
			  cpu->id, run->internal.suberror,
			  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			      ? "emulation failure"
			      : "see KVM_INTERNAL_ERROR_*");
		break;
	default:
		HV_STAT_ADD(vm->stats.exits[HV_EXITK_OTHER], 1);
		hv_vm_end(vm, HV_EXIT_EMULATION, "unexpected KVM exit %u on vcpu %u",
			  run->exit_reason, cpu->id);
		break;
	}
}

__thread struct hv_vcpu *hv_cur_vcpu;

/* A kick stays pending once KVM_RUN has returned (SIGUSR1 is blocked out of
 * it): take it, or every later KVM_RUN would return at once. */
static void eat_kicks(void)
{
	struct timespec zero = {0, 0};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

/* Inside KVM_RUN only the kick (SIGUSR1) is let through. */
static int set_run_sigmask(struct hv_vcpu *cpu)
{
	struct kvm_signal_mask *m;
	sigset_t set;
	int ret;

	m = calloc(1, sizeof(*m) + sizeof(set));
	if (!m)
		return -1;
	sigfillset(&set);
	sigdelset(&set, SIGUSR1);
	/* the kernel's sigset is 8 bytes on x86-64: the first word of glibc's */
	m->len = 8;
	memcpy(m->sigset, &set, 8);
	ret = ioctl(cpu->fd, KVM_SET_SIGNAL_MASK, m);
	free(m);
	return ret;
}

void *hv_vcpu_thread(void *arg)
{
	struct hv_vcpu *cpu = arg;
	struct hv_vm *vm = cpu->vm;

	hv_cur_vcpu = cpu;
	if (set_run_sigmask(cpu)) {
		hv_vm_end(vm, HV_EXIT_INTERNAL, "KVM_SET_SIGNAL_MASK on vcpu %u: %s", cpu->id,
			  strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&vm->lock);
	cpu->self = pthread_self();
	cpu->started = true;
	pthread_mutex_unlock(&vm->lock);

	for (;;) {
		/* clear first, then look: a kick after the look makes KVM_RUN return */
		__atomic_store_n(&cpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (!wait_runnable(vm))
			break;
		if (ioctl(cpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				HV_STAT_ADD(vm->stats.exits[HV_EXITK_INTR], 1);
				eat_kicks();
				continue;
			}
			hv_vm_end(vm, HV_EXIT_INTERNAL, "KVM_RUN on vcpu %u: %s", cpu->id,
				  strerror(errno));
			break;
		}
		handle_exit(cpu);
	}
	return NULL;
}
