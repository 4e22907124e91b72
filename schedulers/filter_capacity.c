/* SPDX-License-Identifier: MIT */
/*
 * Filter "capacity": the host has room for the guest's vCPUs (host CPUs times
 * the policy's overcommit ratio), memory (never overcommitted) and disk.
 */
#include <stdio.h>

#include "schedulers/internal.h"

static bool capacity_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	const struct sched_guest *g = c->g;
	uint64_t vcpu_cap = (uint64_t)((double)h->cpus * c->p->cpu_overcommit);

	if (h->used_memory_mib + g->memory_mib > h->memory_mib) {
		if (reason)
			snprintf(reason, len, "memory: %llu MiB wanted, %llu of %llu MiB free",
				 (unsigned long long)g->memory_mib,
				 (unsigned long long)(h->memory_mib > h->used_memory_mib
							  ? h->memory_mib - h->used_memory_mib
							  : 0),
				 (unsigned long long)h->memory_mib);
		return false;
	}
	if (h->used_vcpus + g->vcpus > vcpu_cap) {
		if (reason)
			snprintf(reason, len, "vcpus: %u wanted, %llu of %llu free (%u CPUs x %g)",
				 g->vcpus,
				 (unsigned long long)(vcpu_cap > h->used_vcpus
							  ? vcpu_cap - h->used_vcpus
							  : 0),
				 (unsigned long long)vcpu_cap, h->cpus, c->p->cpu_overcommit);
		return false;
	}
	if (h->used_disk_gib + g->disk_gib > h->disk_gib) {
		if (reason)
			snprintf(reason, len, "disk: %llu GiB wanted, %llu of %llu GiB free",
				 (unsigned long long)g->disk_gib,
				 (unsigned long long)(h->disk_gib > h->used_disk_gib
							  ? h->disk_gib - h->used_disk_gib
							  : 0),
				 (unsigned long long)h->disk_gib);
		return false;
	}
	if (reason)
		snprintf(reason, len, "fits: %llu MiB, %u vCPUs, %llu GiB",
			 (unsigned long long)g->memory_mib, g->vcpus,
			 (unsigned long long)g->disk_gib);
	return true;
}

const struct sched_filter_plugin sched_filter_capacity = {
    .name = "capacity",
    .check = capacity_check,
};
