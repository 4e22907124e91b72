/* SPDX-License-Identifier: MIT */
/*
 * KVM's paravirtual feature bits (CPUID 0x40000001 EAX, linux/kvm_para.h) by
 * the kernel's names: the vocabulary hosts, agents, the API and the
 * scheduler share.
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"

static const char *const kvm_feature_names[32] = {
    [0] = "clocksource",
    [1] = "nop_io_delay",
    [2] = "mmu_op",
    [3] = "clocksource2",
    [4] = "async_pf",
    [5] = "steal_time",
    [6] = "pv_eoi",
    [7] = "pv_unhalt",
    [9] = "pv_tlb_flush",
    [10] = "async_pf_vmexit",
    [11] = "pv_send_ipi",
    [12] = "poll_control",
    [13] = "pv_sched_yield",
    [14] = "async_pf_int",
    [15] = "msi_ext_dest_id",
    [16] = "hc_map_gpa_range",
    [17] = "migration_control",
    [24] = "clocksource_stable",
};

const char *pvm_kvm_feature_name(unsigned bit)
{
	return bit < PVM_ARRAY_SIZE(kvm_feature_names) ? kvm_feature_names[bit] : NULL;
}

int pvm_kvm_feature_bit(const char *name)
{
	for (unsigned i = 0; name && i < PVM_ARRAY_SIZE(kvm_feature_names); i++)
		if (kvm_feature_names[i] && strcmp(kvm_feature_names[i], name) == 0)
			return (int)i;
	return -ENOENT;
}
