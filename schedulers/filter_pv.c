/* SPDX-License-Identifier: MIT */
/*
 * Filter "pv": paravirtual compatibility. The host runs the guest's kind,
 * offers the hv platform the guest requires (a host that reported none offers
 * none), offers every hook the guest requires at the guest's ABI version, has
 * the emulated devices when the guest needs them, and supports every KVM pv
 * feature (CPUID 0x40000001) a Linux guest's kernel requires.
 */
#include <stdio.h>

#include "schedulers/internal.h"

static bool pv_check(const struct sched_ctx *c, uint32_t hi, char *reason, size_t len)
{
	const struct sched_host_hot *h = &c->f->hot[hi];
	const struct sched_guest *g = c->g;
	uint32_t usable = sched_usable_hooks(h->hooks, h->abi_versions, g->abi_version);
	char names[64];

	if (!(h->kinds & SCHED_KIND_BIT(g->kind))) {
		if (reason)
			snprintf(reason, len, "does not run %s guests", sched_kind_name(g->kind));
		return false;
	}
	if (g->platforms && !(g->platforms & h->platforms)) {
		if (reason) {
			char want[32], has[32];

			pvm_platform_format(g->platforms, want, sizeof(want));
			pvm_platform_format(h->platforms, has, sizeof(has));
			snprintf(reason, len, "does not offer platform %s (offers: %s)", want,
				 has[0] ? has : "none reported");
		}
		return false;
	}
	if (g->hooks_required & ~usable) {
		if (reason) {
			if (g->hooks_required & ~h->hooks) {
				sched_hook_format(g->hooks_required & ~h->hooks, names,
						  sizeof(names));
				snprintf(reason, len, "missing required hooks: %s", names);
			} else {
				snprintf(reason, len, "hook ABI version %u not offered",
					 g->abi_version);
			}
		}
		return false;
	}
	if (g->needs_emulated && !h->emulated_devices) {
		if (reason)
			snprintf(reason, len, "no emulated devices");
		return false;
	}
	if (g->kvm_features_required & ~h->kvm_features) {
		if (reason)
			snprintf(reason, len, "missing KVM pv features 0x%x",
				 g->kvm_features_required & ~h->kvm_features);
		return false;
	}
	if (reason) {
		sched_hook_format(usable & (g->hooks_required | g->hooks_preferred), names,
				  sizeof(names));
		snprintf(reason, len, "compatible; hooks usable: %s", names[0] ? names : "none");
	}
	return true;
}

const struct sched_filter_plugin sched_filter_pv = {
    .name = "pv",
    .per_class = true,
    .check = pv_check,
};
