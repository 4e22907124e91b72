/* SPDX-License-Identifier: MIT */
/* Names of the KVM pv feature bits in CPUID 0x40000001 EAX (linux/kvm_para.h). */
#include "agent/agent.h"

static const char *const kvm_features[32] = {
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

const char *agent_kvm_feature_name(unsigned bit)
{
	return bit < 32 ? kvm_features[bit] : NULL;
}
