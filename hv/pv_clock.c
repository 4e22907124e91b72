// SPDX-License-Identifier: MIT
/*
 * Clock hook: a page the guest reads time from with rdtsc and no exit. The
 * host pairs the vCPU's TSC (KVM_GET_MSRS) with CLOCK_MONOTONIC once, at
 * negotiation; the TSC rate comes from KVM_GET_TSC_KHZ.
 */
#include <errno.h>
#include <sys/ioctl.h>

#include "hv/vm.h"

#define MSR_IA32_TSC 0x10

int hv_pv_clock_setup(struct hv_vm *vm, uint64_t gpa)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} msrs = {.hdr.nmsrs = 1, .e.index = MSR_IA32_TSC};
	struct pv_clock_page *cp = hv_gpa(vm, gpa, sizeof(*cp));
	struct hv_vcpu *cpu = hv_cur_vcpu;
	uint64_t ns;
	int khz;

	if (!cp || !cpu)
		return -EINVAL;
	khz = ioctl(cpu->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return -EINVAL;
	if (ioctl(cpu->fd, KVM_GET_MSRS, &msrs) != 1)
		return -EIO;
	ns = pvm_now_ns();
	__atomic_store_n(&cp->seq, cp->seq | 1, __ATOMIC_RELEASE);
	cp->shift = 32;
	cp->mul = (1000000ull << 32) / (uint64_t)khz;
	cp->tsc_base = msrs.e.data;
	cp->ns_base = ns;
	cp->tsc_khz = (uint64_t)khz;
	__atomic_store_n(&cp->seq, (cp->seq | 1) + 1, __ATOMIC_RELEASE);
	return 0;
}
