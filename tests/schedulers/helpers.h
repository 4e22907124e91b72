/* SPDX-License-Identifier: MIT */
/* Small builders shared by the scheduler tests. */
#ifndef PVM_TEST_SCHED_HELPERS_H
#define PVM_TEST_SCHED_HELPERS_H

#include <stdio.h>
#include <string.h>

#include <check.h>

#include "schedulers/sched.h"

/* A plain pv host: 4 CPUs, 8 GiB, 100 GiB, every hook at ABI 1, emulated
 * devices, KVM pv features 0xff, labels zone=a,disk=ssd. */
static inline void base_host(struct sched_host *h, const char *id)
{
	struct pvm_err err = {0};

	sched_host_init(h);
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->cpus = 4;
	h->memory_mib = 8192;
	h->disk_gib = 100;
	h->hooks = SCHED_HOOKS_ALL;
	h->abi_versions = 1u << 1;
	h->emulated_devices = true;
	h->kvm_features = 0xff;
	ck_assert_int_eq(
	    sched_labels_parse("zone=a,disk=ssd", h->labels, SCHED_LABELS_MAX, &h->nlabels, &err),
	    0);
}

/* A small pv microguest: 1 vCPU, 1 GiB, 10 GiB, ABI 1, no hooks wanted. */
static inline void base_guest(struct sched_guest *g, const char *id)
{
	sched_guest_init(g);
	snprintf(g->id, sizeof(g->id), "%s", id);
	g->memory_mib = 1024;
	g->disk_gib = 10;
	g->abi_version = 1;
}

static inline struct sched_fleet *new_fleet(const char *policy)
{
	struct sched_policy p;
	struct sched_fleet *f = NULL;
	struct pvm_err err = {0};

	sched_policy_default(&p);
	if (policy)
		ck_assert_msg(sched_policy_parse(policy, &p, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(sched_fleet_new(&p, &f, &err), 0);
	return f;
}

static inline void add_host(struct sched_fleet *f, const struct sched_host *h)
{
	struct pvm_err err = {0};

	ck_assert_msg(sched_fleet_host_add(f, h, &err) == 0, "%s", err.msg);
}

static inline void bind(struct sched_fleet *f, const struct sched_guest *g, const char *host)
{
	struct pvm_err err = {0};

	ck_assert_msg(sched_fleet_bind(f, g, host, &err) == 0, "%s", err.msg);
}

#endif
