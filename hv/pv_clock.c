// SPDX-License-Identifier: MIT
/*
 * Clock hook: a page the guest reads time from with rdtsc and no exit. The
 * host pairs the guest's TSC with CLOCK_MONOTONIC once, at negotiation; the
 * platform gives the TSC and its rate.
 */
#include <errno.h>

#include "hv/vm.h"

int hv_pv_clock_setup(struct hv_vm *vm, uint64_t gpa)
{
	struct pv_clock_page *cp = hv_gpa(vm, gpa, sizeof(*cp));
	struct hv_vcpu *cpu = hv_cur_vcpu;
	uint64_t ns, tsc, khz;
	int ret;

	if (!cp || !cpu)
		return -EINVAL;
	ret = vm->plat->tsc(cpu, &tsc, &khz);
	if (ret)
		return ret;
	if (!khz)
		return -EINVAL;
	ns = pvm_now_ns();
	__atomic_store_n(&cp->seq, cp->seq | 1, __ATOMIC_RELEASE);
	cp->shift = 32;
	cp->mul = (1000000ull << 32) / khz;
	cp->tsc_base = tsc;
	cp->ns_base = ns;
	cp->tsc_khz = khz;
	__atomic_store_n(&cp->seq, (cp->seq | 1) + 1, __ATOMIC_RELEASE);
	return 0;
}
