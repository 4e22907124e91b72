// SPDX-License-Identifier: MIT
/*
 * The kvm platform: /dev/kvm. Guest memory is one memslot; vCPUs enter at
 * CPL3 with the page tables, GDT, TSS and IDT boot.c builds; asynchronous
 * doorbells are KVM_IOEVENTFDs; a CPU exception reaches the VMM as a write
 * of its vector to PV_PORT_FAULT by the CPL0 stubs of the IDT.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

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
#define EFER_LME       0x100ull
#define EFER_LMA       0x400ull
#define EFER_NXE       0x800ull
#define RFLAGS_IOPL3   0x3000ull
#define MSR_IA32_TSC   0x10

struct kvm_vm {
	int kvm_fd;
	int vm_fd;
};

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
};

static struct kvm_vm *kvm_of(struct hv_vm *vm)
{
	return vm->priv;
}

static struct kvm_vcpu *kcpu_of(struct hv_vcpu *cpu)
{
	return cpu->priv;
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int kvm_vm_init(struct hv_vm *vm, struct pvm_err *err)
{
	struct kvm_userspace_memory_region region;
	struct sigaction sa = {.sa_handler = kick_handler};
	struct kvm_vm *k;
	int ver;

	k = calloc(1, sizeof(*k));
	if (!k)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	k->kvm_fd = k->vm_fd = -1;
	vm->priv = k;
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0)
		return pvm_err_set(err, -errno, "/dev/kvm: %s", strerror(errno));
	ver = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		return pvm_err_set(err, -EINVAL, "/dev/kvm: API version %d, want %d", ver,
				   KVM_API_VERSION);
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return pvm_err_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return pvm_err_set(err, -errno, "guest memory: %s", strerror(errno));
	}
	region = (struct kvm_userspace_memory_region){
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = vm->mem_size,
	    .userspace_addr = (uint64_t)(uintptr_t)vm->mem,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	/* the kick: SIGUSR1 makes KVM_RUN return (vcpu_thread_init) */
	sigaction(SIGUSR1, &sa, NULL);
	return 0;
}

static void kvm_vm_free(struct hv_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);

	for (unsigned int i = 0; i < HV_MAX_VCPUS; i++) {
		struct kvm_vcpu *c = vm->vcpus[i].priv;

		if (!c)
			continue;
		if (c->run)
			munmap(c->run, c->run_size);
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		vm->vcpus[i].priv = NULL;
	}
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	vm->mem = NULL;
	if (!k)
		return;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	free(k);
	vm->priv = NULL;
}

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
		if (ioctl(kvm_of(vm)->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
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

static int set_entry_state(struct hv_vm *vm, struct hv_vcpu *cpu, int fd, struct pvm_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {0};
	struct kvm_fpu fpu = {0};

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
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
	/* no SCE: a guest's syscall is a plain #UD, not a jump to a CPL0 rip 0 */
	sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	regs.rip = vm->entry;
	regs.rsp = hv_vcpu_stack_top(vm, cpu->id);
	regs.rdi = PV_BOOT_INFO_GPA;
	regs.rsi = cpu->id;
	regs.rflags = 0x2 | RFLAGS_IOPL3;
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));

	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return pvm_err_set(err, -errno, "KVM_SET_FPU: %s", strerror(errno));
	return 0;
}

static int kvm_vcpu_init(struct hv_vcpu *cpu, struct pvm_err *err)
{
	struct hv_vm *vm = cpu->vm;
	struct kvm_vcpu *c;
	int sz, ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	c->fd = -1;
	cpu->priv = c;
	c->fd = ioctl(kvm_of(vm)->vm_fd, KVM_CREATE_VCPU, cpu->id);
	if (c->fd < 0)
		return pvm_err_set(err, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	sz = ioctl(kvm_of(vm)->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return pvm_err_set(err, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
	c->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		return pvm_err_set(err, -errno, "mmap kvm_run: %s", strerror(errno));
	}
	c->run_size = (size_t)sz;
	ret = set_cpuid(vm, c->fd, err);
	if (ret)
		return ret;
	return set_entry_state(vm, cpu, c->fd, err);
}

static int kvm_doorbell_async(struct hv_vm *vm, unsigned int hook, int efd)
{
	struct kvm_ioeventfd io = {
	    .datamatch = hook,
	    .addr = PV_PORT_DOORBELL,
	    .len = 4,
	    .fd = efd,
	    .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return ioctl(kvm_of(vm)->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Inside KVM_RUN only the kick (SIGUSR1) is let through. */
static int kvm_vcpu_thread_init(struct hv_vcpu *cpu)
{
	struct kvm_signal_mask *m;
	sigset_t set;
	int ret;

	m = calloc(1, sizeof(*m) + sizeof(set));
	if (!m)
		return -ENOMEM;
	sigfillset(&set);
	sigdelset(&set, SIGUSR1);
	/* the kernel's sigset is 8 bytes on x86-64: the first word of glibc's */
	m->len = 8;
	memcpy(m->sigset, &set, 8);
	ret = ioctl(kcpu_of(cpu)->fd, KVM_SET_SIGNAL_MASK, m) < 0 ? -errno : 0;
	free(m);
	return ret;
}

/*
 * A kick makes KVM_RUN return: vCPU threads keep SIGUSR1 blocked except
 * inside KVM_RUN (KVM_SET_SIGNAL_MASK), so a kick that lands while a thread
 * is in user space stays pending and stops its next KVM_RUN at once.
 */
static void kvm_vcpu_kick(struct hv_vcpu *cpu)
{
	__atomic_store_n(&kcpu_of(cpu)->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(cpu->self, SIGUSR1);
}

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

/* A write to PV_PORT_FAULT: from the CPL0 stubs a fault, from CPL3 just a port. */
static bool fault_report(struct hv_vcpu *cpu, uint32_t vector, struct hv_exit *ex)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t frame[6] = {0};
	bool ec = hv_vector_has_error_code(vector);
	void *p;

	ex->reason = HV_EXIT_R_FAULT;
	ex->fault.vector = vector;
	if (ioctl(kcpu_of(cpu)->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(kcpu_of(cpu)->fd, KVM_GET_SREGS, &sregs) < 0)
		return true;
	if (sregs.cs.dpl != 0)
		return false;
	p = hv_gpa(cpu->vm, regs.rsp, sizeof(frame));
	if (p)
		memcpy(frame, p, sizeof(frame));
	ex->fault.error_code = ec ? frame[0] : 0;
	ex->fault.rip = frame[ec ? 1 : 0];
	ex->fault.rflags = frame[ec ? 3 : 2];
	ex->fault.cr2 = sregs.cr2;
	return true;
}

static void translate_exit(struct hv_vcpu *cpu, struct hv_exit *ex)
{
	struct kvm_run *run = kcpu_of(cpu)->run;

	hv_exit_clear(ex);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		ex->reason = HV_EXIT_R_IO;
		ex->io.port = run->io.port;
		ex->io.out = run->io.direction == KVM_EXIT_IO_OUT;
		ex->io.size = run->io.size;
		ex->io.count = run->io.count;
		ex->io.data = (uint8_t *)run + run->io.data_offset;
		if (ex->io.port == PV_PORT_FAULT && ex->io.out && ex->io.size == 4 &&
		    ex->io.count == 1) {
			uint32_t v;

			memcpy(&v, ex->io.data, 4);
			if (!fault_report(cpu, v, ex))
				ex->reason = HV_EXIT_R_IO;
		}
		break;
	case KVM_EXIT_MMIO:
		ex->reason = HV_EXIT_R_MMIO;
		ex->mmio.addr = run->mmio.phys_addr;
		ex->mmio.write = run->mmio.is_write;
		/* the KVM ABI caps len at 8; clamping keeps mmio.data from overrunning anyway */
		ex->mmio.len =
		    run->mmio.len > sizeof(run->mmio.data) ? sizeof(run->mmio.data) : run->mmio.len;
		ex->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		ex->reason = HV_EXIT_R_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		ex->reason = HV_EXIT_R_SHUTDOWN;
		snprintf(ex->msg, sizeof(ex->msg), "guest triple fault (KVM_EXIT_SHUTDOWN)");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		ex->reason = HV_EXIT_R_EMULATION;
		snprintf(ex->msg, sizeof(ex->msg), "KVM entry failed: hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		ex->reason = HV_EXIT_R_EMULATION;
		snprintf(ex->msg, sizeof(ex->msg), "KVM internal error: suberror %u (%s)",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			     ? "emulation failure"
			     : "see KVM_INTERNAL_ERROR_*");
		break;
	default:
		ex->reason = HV_EXIT_R_EMULATION;
		snprintf(ex->msg, sizeof(ex->msg), "unexpected KVM exit %u", run->exit_reason);
		break;
	}
}

static int kvm_vcpu_run(struct hv_vcpu *cpu, struct hv_exit *ex)
{
	if (ioctl(kcpu_of(cpu)->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			eat_kicks();
			__atomic_store_n(&kcpu_of(cpu)->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			ex->reason = HV_EXIT_R_INTR;
			return 0;
		}
		ex->reason = HV_EXIT_R_ERROR;
		snprintf(ex->msg, sizeof(ex->msg), "KVM_RUN: %s", strerror(errno));
		return 0;
	}
	translate_exit(cpu, ex);
	return 0;
}

static int kvm_get_regs(struct hv_vcpu *cpu, struct hv_regs *r)
{
	struct kvm_regs k;

	_Static_assert(sizeof(k) == sizeof(*r), "hv_regs in kvm_regs order");
	if (ioctl(kcpu_of(cpu)->fd, KVM_GET_REGS, &k) < 0)
		return -errno;
	memcpy(r, &k, sizeof(*r));
	return 0;
}

static int kvm_set_regs(struct hv_vcpu *cpu, const struct hv_regs *r)
{
	struct kvm_regs k;

	memcpy(&k, r, sizeof(k));
	return ioctl(kcpu_of(cpu)->fd, KVM_SET_REGS, &k) < 0 ? -errno : 0;
}

/* The vCPU's TSC (KVM_GET_MSRS) and rate (KVM_GET_TSC_KHZ). */
static int kvm_tsc(struct hv_vcpu *cpu, uint64_t *tsc, uint64_t *khz)
{
	struct kvm_msrs *msrs;
	int k, ret = 0;

	k = ioctl(kcpu_of(cpu)->fd, KVM_GET_TSC_KHZ, 0);
	if (k <= 0)
		return -EINVAL;
	msrs = calloc(1, sizeof(*msrs) + sizeof(msrs->entries[0]));
	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = 1;
	msrs->entries[0].index = MSR_IA32_TSC;
	if (ioctl(kcpu_of(cpu)->fd, KVM_GET_MSRS, msrs) != 1) {
		ret = -EIO;
		goto out;
	}
	*tsc = msrs->entries[0].data;
	*khz = (uint64_t)k;
out:
	free(msrs);
	return ret;
}

int hv_kvm_vcpu_fd(struct hv_vcpu *cpu)
{
	return cpu->vm->plat == &hv_platform_kvm && cpu->priv ? kcpu_of(cpu)->fd : -1;
}

const struct hv_platform hv_platform_kvm = {
    .name = "kvm",
    .vm_init = kvm_vm_init,
    .vcpu_init = kvm_vcpu_init,
    .doorbell_async = kvm_doorbell_async,
    .vcpu_thread_init = kvm_vcpu_thread_init,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .get_regs = kvm_get_regs,
    .set_regs = kvm_set_regs,
    .tsc = kvm_tsc,
    .vm_free = kvm_vm_free,
};

enum hv_platform_id hv_platform_probe(void)
{
	static int probed; /* 0 unknown, else the id */
	int fd, vmfd, id;

	id = __atomic_load_n(&probed, __ATOMIC_ACQUIRE);
	if (id)
		return (enum hv_platform_id)id;
	id = HV_PLATFORM_PROCESS;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		vmfd = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION
			   ? ioctl(fd, KVM_CREATE_VM, 0)
			   : -1;
		if (vmfd >= 0) {
			id = HV_PLATFORM_KVM;
			close(vmfd);
		}
		close(fd);
	}
	__atomic_store_n(&probed, id, __ATOMIC_RELEASE);
	return (enum hv_platform_id)id;
}
