/* SPDX-License-Identifier: MIT */
/*
 * The host's own cost of one vCPU exit on each platform it offers, measured
 * once at start with the bare microguest (pvmd_vmm_exit_cost) on a thread of
 * its own, so a second or two of VMM runs delays no heartbeat. Heartbeats
 * carry what it measured as "exit_cost_ns"; the scheduler turns that into
 * the exits one of this host's cores serves a second, in place of its
 * policy's assumption.
 */
#include <string.h>
#include <unistd.h>

#include "daemon/host-int.h"

static void *cost_thread(void *arg)
{
	struct pvmd_host *h = arg;
	unsigned exits = h->cfg->exit_cost_exits;
	char image[4096];

	pvmd_host_image_path(h, "bare", image, sizeof(image));
	if (access(image, R_OK) != 0) {
		pvm_log_warn("host: no bare microguest at %s: the cost of an exit is not measured "
			     "and the scheduler assumes its default",
			     image);
		return NULL;
	}
	for (size_t i = 0; i < json_object_array_length(h->platforms) && !*h->stop; i++) {
		const char *name =
		    json_object_get_string(json_object_array_get_idx(h->platforms, i));
		int id = pvm_platform_id(name);
		struct pvm_err e = {0};
		double ns = 0;

		if (id < 0)
			continue;
		if (h->hv.ops->exit_cost(h->hv.priv, image, name, exits, &ns, &e) < 0) {
			pvm_log_warn("host: %s", e.msg);
			continue;
		}
		__atomic_store_n(&h->exit_cost_ns[id], (int64_t)(ns < 1 ? 1 : ns + 0.5),
				 __ATOMIC_RELAXED);
		pvm_log_info("host: one exit costs %.0f ns on %s (%u exits timed)", ns, name,
			     exits);
	}
	return NULL;
}

void pvmd_host_cost_start(struct pvmd_host *h)
{
	if (!h->cfg->exit_cost_exits || !h->hv.ops->exit_cost)
		return;
	if (pthread_create(&h->cost_thread, NULL, cost_thread, h) != 0) {
		pvm_log_warn("host: no thread to measure the cost of an exit");
		return;
	}
	h->cost_running = true;
}

void pvmd_host_cost_join(struct pvmd_host *h)
{
	if (h->cost_running)
		pthread_join(h->cost_thread, NULL);
	h->cost_running = false;
}

json_object *pvmd_host_cost_json(struct pvmd_host *h)
{
	json_object *o = NULL;

	for (unsigned p = 0; p < PVM_PLATFORM_COUNT; p++) {
		int64_t ns = __atomic_load_n(&h->exit_cost_ns[p], __ATOMIC_RELAXED);

		if (!ns)
			continue;
		if (!o)
			o = json_object_new_object();
		json_object_object_add(o, pvm_platform_name(p), json_object_new_int64(ns));
	}
	return o;
}
