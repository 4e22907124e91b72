// SPDX-License-Identifier: MIT
/*
 * Clock hook: a page the guest reads time from with rdtsc and no exit. The
 * host pairs the vCPU's TSC (KVM_GET_MSRS) with CLOCK_MONOTONIC once, at
 * negotiation; the TSC rate comes from KVM_GET_TSC_KHZ.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "hv/vm.h"

#define MSR_IA32_TSC 0x10

int hv_pv_clock_setup(struct hv_vm *vm, uint64_t gpa)
{
	struct pv_clock_page *cp = hv_gpa(vm, gpa, sizeof(*cp));
	struct hv_vcpu *cpu = hv_cur_vcpu;
	struct kvm_msrs *msrs;
	uint64_t ns, tsc;
	int khz, ret = 0;

	if (!cp || !cpu)
		return -EINVAL;
	khz = ioctl(cpu->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return -EINVAL;
	msrs = calloc(1, sizeof(*msrs) + sizeof(msrs->entries[0]));
	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = 1;
	msrs->entries[0].index = MSR_IA32_TSC;
	if (ioctl(cpu->fd, KVM_GET_MSRS, msrs) != 1) {
		ret = -EIO;
		goto out;
	}
	tsc = msrs->entries[0].data;
	ns = pvm_now_ns();
	__atomic_store_n(&cp->seq, cp->seq | 1, __ATOMIC_RELEASE);
	cp->shift = 32;
	cp->mul = (1000000ull << 32) / (uint64_t)khz;
	cp->tsc_base = tsc;
	cp->ns_base = ns;
	cp->tsc_khz = (uint64_t)khz;
	__atomic_store_n(&cp->seq, (cp->seq | 1) + 1, __ATOMIC_RELEASE);
out:
	free(msrs);
	return ret;
}
