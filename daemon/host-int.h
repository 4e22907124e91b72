/* SPDX-License-Identifier: MIT */
/* What host_role.c and host_reconcile.c share. Internal to daemon/. */
#ifndef PVMD_HOST_INT_H
#define PVMD_HOST_INT_H

#include <pthread.h>

#include "daemon/driver.h"
#include "daemon/host.h"
#include "hv/hv.h"

#define PVMD_PV_ABI_VERSION PV_ABI_VERSION

/* What the host remembers of one assigned guest between loop turns. */
struct pvmd_hg {
	char id[64];
	struct pvmd_driver *drv;
	char observed[16];   /* observed state now */
	char reported[16];   /* observed state last reported; "" none */
	unsigned restarts;   /* restarts so far, for the backoff */
	uint64_t restart_at; /* when the pending restart is due; 0: none */
	uint64_t running_since;
	uint64_t next_stats; /* when hook statistics are next reported */
	/* Until the agent's hello is relayed (or hello_until passes), the agent
	 * is asked every loop turn, so the controller sees it at once. */
	bool hello_relayed;
	uint64_t hello_until;
	bool define_failed;
	int64_t vcpus, memory_mib, disk_gib;
	/* It was stopped because its desired state was stopped: when it is
	 * wanted again that is an order to start, whatever the restart policy. */
	bool stop_asked;
	bool running;
};

struct pvmd_host {
	const struct pvmd_host_config *cfg;
	volatile sig_atomic_t *stop;
	struct pvmd_client *cl;
	struct pvmd_driver hv, lv; /* lv.ops is NULL without libvirt */
	char host_id[64];
	int64_t generation;
	json_object *assigned; /* the last assignments' guest array */
	json_object *kvm_features;
	json_object *platforms; /* offered: pvmd_host_platforms() */
	struct pvmd_hg *g;
	size_t ng, capg;
	uint64_t heartbeat_ns, report_ns, backoff_ns, backoff_max_ns;
	unsigned stop_timeout_ms;
	/* Heartbeats have their own thread and connection: a slow reconcile
	 * (a VMM slow to start or stop) must not make the host unreachable. */
	struct pvmd_client *hb_cl;
	pthread_t hb_thread;
	bool hb_running;
	/* Fencing (cfg->fence): when the last acknowledged heartbeat was sent
	 * and how long it holds; the heartbeat thread sets fence_due and ends
	 * the main loop's call in flight (once registered, cl watches
	 * poll_abort, set on stop too) so that it fences at once. Atomic. */
	uint64_t beat_ok_ns, fence_after_ns;
	int fence_due;
	volatile sig_atomic_t poll_abort;
	bool fenced;			 /* main loop only: the guests were stopped for it */
	int64_t used_cpus, used_mem_mib; /* atomic: reconcile writes, heartbeats read */
	/* ns one exit costs here, by platform; 0: not measured (atomic) */
	int64_t exit_cost_ns[PVM_PLATFORM_COUNT];
	pthread_t cost_thread;
	bool cost_running;
};

/* Makes the drivers' guests match h->assigned. */
void pvmd_host_reconcile(struct pvmd_host *h);
/* Sends observed-state changes now, hook statistics, exits and the agent's
 * state every report interval, and the agent's hello as soon as it arrives. */
void pvmd_host_report(struct pvmd_host *h);
/* Whether a started guest's agent hello is still awaited (see hello_until). */
bool pvmd_host_hello_pending(const struct pvmd_host *h, uint64_t now);
/* Publishes the CPUs and memory the running guests hold, for heartbeats. */
void pvmd_host_update_used(struct pvmd_host *h);
void pvmd_host_forget_all(struct pvmd_host *h);
/* Where an image name that is not a path is found (the image directory). */
void pvmd_host_image_path(struct pvmd_host *h, const char *image, char *out, size_t len);

/* host_cost.c: measures the cost of an exit on each offered platform once, on
 * its own thread; the heartbeat's "exit_cost_ns" object (NULL: none yet). */
void pvmd_host_cost_start(struct pvmd_host *h);
void pvmd_host_cost_join(struct pvmd_host *h);
json_object *pvmd_host_cost_json(struct pvmd_host *h);

#endif /* PVMD_HOST_INT_H */
