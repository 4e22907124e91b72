/* SPDX-License-Identifier: MIT */
/*
 * The host role's loop: register, long-poll assignments, reconcile
 * (host_reconcile.c), report; every step bounded by a timeout and the long
 * poll short enough that reports keep their rhythm. Heartbeats run in a
 * thread of their own.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "daemon/host-int.h"

#define RETRY_NS     (1000 * 1000 * 1000ull)
#define HTTP_TIMEOUT 10
/* How often an awaited agent hello is looked for. */
#define HELLO_POLL_NS (20 * 1000 * 1000ull)

static void notify(struct pvmd_host *h, const char *state)
{
	if (h->cfg->notify)
		h->cfg->notify(h->cfg->notify_arg, state);
}

/* The CPUs pvmd may run on (taskset, a cpuset): its VMMs inherit them, so
 * they are what the host offers, not every CPU online. */
static int host_resources(int64_t *cpus, int64_t *mem_mib)
{
	struct sysinfo si;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		*cpus = CPU_COUNT(&set);
	else
		*cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (sysinfo(&si) < 0)
		return -errno;
	*mem_mib = (int64_t)((uint64_t)si.totalram * si.mem_unit >> 20);
	return 0;
}

/* Guest scratch disks live under the state directory (as Nova's local_gb is
 * the instances path's file system): its size is the host's disk capacity. */
static int64_t host_disk_gib(struct pvmd_host *h)
{
	struct statvfs vfs;

	if (!h->cfg->state_dir || statvfs(h->cfg->state_dir, &vfs) < 0)
		return 0;
	return (int64_t)((uint64_t)vfs.f_blocks * vfs.f_frsize >> 30);
}

static json_object *labels_json(struct pvmd_host *h)
{
	json_object *o = NULL;

	if (h->cfg->labels && *h->cfg->labels &&
	    pvm_json_parse(h->cfg->labels, strlen(h->cfg->labels), &pvm_json_default_limits, &o,
			   NULL) == 0)
		return o;
	return NULL;
}

static int do_register(struct pvmd_host *h, struct pvm_err *err)
{
	json_object *body = json_object_new_object(), *ans = NULL, *labels = labels_json(h);
	const char *id = NULL;
	char name[64];
	int64_t cpus = 0, mem = 0;
	long status;
	int ret;

	if (h->cfg->name)
		snprintf(name, sizeof(name), "%s", h->cfg->name);
	else if (gethostname(name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "pvm-host");
	host_resources(&cpus, &mem);
	json_object_object_add(body, "name", json_object_new_string(name));
	json_object_object_add(body, "cpus", json_object_new_int64(cpus));
	json_object_object_add(body, "memory_mib", json_object_new_int64(mem));
	json_object_object_add(body, "disk_gib", json_object_new_int64(host_disk_gib(h)));
	json_object_object_add(body, "platforms", json_object_get(h->platforms));
	if (labels)
		json_object_object_add(body, "labels", labels);
	ret = pvmd_client_call(h->cl, "POST", "/v1/hosts", body, HTTP_TIMEOUT, &status, &ans, err);
	if (ret < 0)
		goto out;
	if ((status != 200 && status != 201) || pvm_json_get_str(ans, "id", &id) < 0 ||
	    strlen(id) >= sizeof(h->host_id)) {
		const char *detail = "no host id in the answer";

		pvm_json_get_str(ans, "detail", &detail);
		ret = pvm_err_set(err, status == 401 || status == 403 ? -EACCES : -EPROTO,
				  "register: HTTP %ld: %s", status, detail);
		goto out;
	}
	snprintf(h->host_id, sizeof(h->host_id), "%s", id);
	pvm_log_info("registered with %s as host %s (%s)", h->cfg->controller, h->host_id, name);
out:
	json_object_put(ans);
	json_object_put(body);
	return ret;
}

static json_object *str_array(const char *const *v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *heartbeat_body(struct pvmd_host *h)
{
	const char *drivers[2] = {"hv", "libvirt"};
	const char *kinds[3] = {"microguest", "libvirt", "linux"};
	json_object *b = json_object_new_object(), *hooks = json_object_new_array();
	json_object *fr = json_object_new_object(), *labels = labels_json(h), *v;
	uint64_t offer = PV_F_ALL_V1;
	int64_t cpus = 0, mem = 0;
	int64_t used_cpus = __atomic_load_n(&h->used_cpus, __ATOMIC_RELAXED);
	int64_t used_mem = __atomic_load_n(&h->used_mem_mib, __ATOMIC_RELAXED);

	/* The driver refused a bad list at open; "all" stands in for none given. */
	if (h->cfg->hooks)
		hv_hooks_parse(h->cfg->hooks, &offer, NULL);
	for (unsigned int b = 0; b < PV_HOOK_COUNT; b++) {
		if (!(offer & PV_F(b)))
			continue;
		v = json_object_new_object();
		json_object_object_add(v, "name", json_object_new_string(pv_hook_name(b)));
		json_object_object_add(v, "abi_version", json_object_new_int(PVMD_PV_ABI_VERSION));
		json_object_array_add(hooks, v);
	}
	json_object_object_add(b, "hooks", hooks);
	v = json_object_new_array();
	json_object_array_add(v, json_object_new_int(PVMD_PV_ABI_VERSION));
	json_object_object_add(b, "abi_versions", v);
	json_object_object_add(b, "kvm_pv_features", json_object_get(h->kvm_features));
	json_object_object_add(b, "platforms", json_object_get(h->platforms));
	json_object_object_add(b, "drivers", str_array(drivers, h->lv.ops ? 2 : 1));
	/* hv runs microguests; libvirt runs libvirt domains and Linux guests. */
	json_object_object_add(b, "kinds", str_array(kinds, h->lv.ops ? 3 : 1));
	if (h->lv.ops)
		json_object_object_add(b, "linux_accel",
				       json_object_new_string(pvmd_hardware_kvm() ? "kvm" : "tcg"));
	json_object_object_add(b, "emulation", json_object_new_boolean(true));
	host_resources(&cpus, &mem);
	json_object_object_add(b, "cpus", json_object_new_int64(cpus));
	json_object_object_add(b, "memory_mib", json_object_new_int64(mem));
	json_object_object_add(b, "disk_gib", json_object_new_int64(host_disk_gib(h)));
	json_object_object_add(fr, "cpus",
			       json_object_new_int64(cpus > used_cpus ? cpus - used_cpus : 0));
	json_object_object_add(fr, "memory_mib",
			       json_object_new_int64(mem > used_mem ? mem - used_mem : 0));
	json_object_object_add(b, "free", fr);
	if (labels)
		json_object_object_add(b, "labels", labels);
	v = pvmd_host_cost_json(h);
	if (v)
		json_object_object_add(b, "exit_cost_ns", v);
	return b;
}

static unsigned heartbeat_timeout(const struct pvmd_host *h)
{
	uint64_t s = h->heartbeat_ns / 1000000000ull;

	return s < 1 ? 1 : s > HTTP_TIMEOUT ? HTTP_TIMEOUT : (unsigned)s;
}

static int do_heartbeat(struct pvmd_host *h, struct pvmd_client *cl, struct pvm_err *err)
{
	json_object *body = heartbeat_body(h), *ans = NULL;
	uint64_t sent = pvm_now_ns();
	int64_t hb = 0, lease = 0, margin = 0;
	char path[128];
	long status;
	int ret;

	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", h->host_id);
	/* One interval at most: a later heartbeat is superseded by the next, and the
	 * thread must come back to watch the lease. */
	ret = pvmd_client_call(cl, "POST", path, body, heartbeat_timeout(h), &status, &ans, err);
	if (ret == 0 && status != 200) {
		const char *detail = "";

		pvm_json_get_str(ans, "detail", &detail);
		ret = pvm_err_set(err, -EPROTO, "heartbeat: HTTP %ld %s", status, detail);
	}
	if (ret == 0 && pvm_json_get_int(ans, "heartbeat_interval_s", &hb) == 0 && hb > 0 &&
	    hb <= 3600)
		h->heartbeat_ns = (uint64_t)hb * 1000000000ull;
	/* The lease runs from when this heartbeat left, not when it arrived. */
	if (ret == 0) {
		if (pvm_json_get_int(ans, "lease_s", &lease) == 0 &&
		    pvm_json_get_int(ans, "fence_margin_s", &margin) == 0 && lease > margin &&
		    margin >= 0)
			__atomic_store_n(&h->fence_after_ns,
					 (uint64_t)(lease - margin) * 1000000000ull,
					 __ATOMIC_RELAXED);
		__atomic_store_n(&h->beat_ok_ns, sent, __ATOMIC_RELEASE);
		if (__atomic_exchange_n(&h->fence_due, 0, __ATOMIC_ACQ_REL))
			h->poll_abort = 1; /* the main loop unfences without waiting out a poll */
	}
	json_object_put(ans);
	json_object_put(body);
	return ret;
}

/* The heartbeat thread: is the lease about to run out? Then the main loop fences. */
static void lease_check(struct pvmd_host *h)
{
	uint64_t ok = __atomic_load_n(&h->beat_ok_ns, __ATOMIC_ACQUIRE);
	uint64_t after = __atomic_load_n(&h->fence_after_ns, __ATOMIC_RELAXED);

	if (!h->cfg->fence || !ok || !after || pvm_now_ns() - ok < after)
		return;
	if (!__atomic_exchange_n(&h->fence_due, 1, __ATOMIC_ACQ_REL))
		h->poll_abort = 1;
}

static void *heartbeat_thread(void *arg)
{
	struct pvmd_host *h = arg;

	while (!*h->stop) {
		uint64_t next = pvm_now_ns() + h->heartbeat_ns;
		struct pvm_err e = {0};

		while (!*h->stop && pvm_now_ns() < next) {
			lease_check(h);
			pvm_sleep_ns(10 * 1000 * 1000);
		}
		if (*h->stop)
			h->poll_abort = 1;
		if (!*h->stop && do_heartbeat(h, h->hb_cl, &e) < 0 && !*h->stop)
			pvm_log_warn("%s", e.msg);
	}
	return NULL;
}

/* Long-polls the assignments; keeps the last answer in h->assigned. */
static int poll_assignments(struct pvmd_host *h, unsigned wait_s, struct pvm_err *err)
{
	json_object *ans = NULL, *guests;
	char path[192];
	int64_t gen = 0;
	long status;
	int ret;

	snprintf(path, sizeof(path), "/v1/hosts/%s/assignments?since=%lld&wait=%u", h->host_id,
		 (long long)h->generation, wait_s);
	ret = pvmd_client_call(h->cl, "GET", path, NULL, wait_s + HTTP_TIMEOUT, &status, &ans, err);
	if (ret < 0)
		return ret;
	if (status != 200 || !json_object_object_get_ex(ans, "guests", &guests) ||
	    !json_object_is_type(guests, json_type_array)) {
		json_object_put(ans);
		return pvm_err_set(err, -EPROTO, "assignments: HTTP %ld", status);
	}
	pvm_json_get_int(ans, "generation", &gen);
	h->generation = gen;
	json_object_put(h->assigned);
	h->assigned = json_object_get(guests);
	json_object_put(ans);
	return 0;
}

static int open_drivers(struct pvmd_host *h, struct pvm_err *err)
{
	struct pvm_buf uri;
	int ret;

	pvm_buf_init(&uri);
	pvm_buf_printf(&uri, "%s", h->cfg->state_dir);
	pvm_buf_printf(&uri, "?hooks=%s", h->cfg->hooks ? h->cfg->hooks : "all");
	if (h->cfg->platform)
		pvm_buf_printf(&uri, "&platform=%s", h->cfg->platform);
	if (h->cfg->vmm)
		pvm_buf_printf(&uri, "&vmm=%s", h->cfg->vmm);
	if (h->cfg->console_limit)
		pvm_buf_printf(&uri, "&console_limit=%s", h->cfg->console_limit);
	if (uri.failed) {
		pvm_buf_free(&uri);
		return pvm_err_set(err, -ENOMEM, "out of memory");
	}
	ret = pvmd_driver_open("hv", uri.data, &h->hv, err);
	pvm_buf_free(&uri);
	if (ret < 0)
		return ret;
	if (h->cfg->libvirt_uri) {
		ret = pvmd_driver_open("libvirt", h->cfg->libvirt_uri, &h->lv, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void stop_all(struct pvmd_host *h)
{
	struct pvmd_driver *drvs[2] = {&h->hv, &h->lv};

	for (size_t d = 0; d < 2; d++) {
		struct pvmd_guest_info *infos = NULL;
		struct pvm_err err = {0};
		size_t n = 0;

		if (!drvs[d]->ops || drvs[d]->ops->list(drvs[d]->priv, &infos, &n, &err) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (drvs[d]->ops->stop(drvs[d]->priv, infos[i].id, h->stop_timeout_ms,
					       &err) < 0)
				pvm_log_warn("stop guest %s: %s", infos[i].id, err.msg);
		free(infos);
	}
}

/*
 * The main loop: fences when the heartbeat thread says the lease runs out;
 * unfences once a heartbeat is acknowledged again and the assignments are
 * fresh (fresh: this turn's poll answered), never on the ones from before
 * the cut, which still name the guests that have moved since.
 */
static void fence(struct pvmd_host *h, bool fresh)
{
	bool due = __atomic_load_n(&h->fence_due, __ATOMIC_ACQUIRE);

	if (due && !h->fenced) {
		pvm_log_warn("no heartbeat acknowledged for %llu s, the controller's lease runs "
			     "out: stopping every guest (fenced)",
			     (unsigned long long)(h->fence_after_ns / 1000000000ull));
		stop_all(h);
		h->fenced = true;
	} else if (!due && h->fenced && fresh) {
		pvm_log_warn("the controller acknowledges heartbeats again: unfenced");
		h->fenced = false;
	}
}

/*
 * How long the next long poll may wait: a restart due sooner than that is
 * waited for here instead, so backoff delays hold to the millisecond.
 */
static unsigned poll_wait(struct pvmd_host *h, unsigned wait_s)
{
	uint64_t now = pvm_now_ns(), due = 0;

	for (size_t i = 0; i < h->ng; i++)
		if (h->g[i].restart_at && (!due || h->g[i].restart_at < due))
			due = h->g[i].restart_at;
	/* An awaited agent hello is looked for again shortly. */
	if (pvmd_host_hello_pending(h, now) && (!due || now + HELLO_POLL_NS < due))
		due = now + HELLO_POLL_NS;
	if (!due || due > now + (uint64_t)wait_s * 1000000000ull)
		return wait_s;
	while (!*h->stop && pvm_now_ns() < due)
		pvm_sleep_ns(due - pvm_now_ns() < 10000000 ? due - pvm_now_ns() : 10000000);
	return 0;
}

int pvmd_host_run(const struct pvmd_host_config *cfg, volatile sig_atomic_t *stop,
		  struct pvm_err *err)
{
	struct pvmd_host h = {.cfg = cfg, .stop = stop};
	bool ready = false;
	unsigned wait_s;
	int ret;

	if (!cfg->state_dir || !*cfg->state_dir)
		return pvm_err_field(err, -EINVAL, "state_dir", "the host needs a state directory");
	if (cfg->labels) {
		json_object *l = NULL;

		ret = pvm_json_parse(cfg->labels, strlen(cfg->labels), &pvm_json_default_limits, &l,
				     err);
		if (ret == 0 && !json_object_is_type(l, json_type_object))
			ret = pvm_err_set(err, -EINVAL, "labels must be a JSON object");
		json_object_put(l);
		if (ret < 0)
			return pvm_err_prefix(err, "labels");
	}
	h.report_ns =
	    (uint64_t)(cfg->report_interval_ms ? cfg->report_interval_ms : 2000) * 1000000;
	h.backoff_ns =
	    (uint64_t)(cfg->restart_backoff_ms ? cfg->restart_backoff_ms : 1000) * 1000000;
	h.backoff_max_ns =
	    (uint64_t)(cfg->restart_backoff_max_ms ? cfg->restart_backoff_max_ms : 60000) * 1000000;
	h.stop_timeout_ms = cfg->stop_timeout_ms ? cfg->stop_timeout_ms : 5000;
	h.heartbeat_ns = 10 * 1000000000ull;
	wait_s = (unsigned)(h.report_ns / 1000000000ull);
	if (wait_s == 0)
		wait_s = 1;
	ret = pvmd_host_platforms(cfg->platform, &h.platforms, err);
	if (ret < 0)
		goto out;
	ret = open_drivers(&h, err);
	if (ret < 0)
		goto out;
	ret = pvmd_client_open(cfg->controller, cfg->token, stop, &h.cl, err);
	if (ret < 0)
		goto out;
	ret = pvmd_client_open(cfg->controller, cfg->token, stop, &h.hb_cl, err);
	if (ret < 0)
		goto out;
	ret = pvmd_kvm_pv_features(&h.kvm_features, err);
	if (ret < 0)
		goto out;
	/* The controller may start after its hosts: keep trying. */
	while (!*stop) {
		struct pvm_err e = {0};

		ret = do_register(&h, &e);
		if (ret == 0)
			break;
		if (ret == -EACCES) {
			*err = e;
			goto out;
		}
		pvm_log_warn("%s; retrying", e.msg);
		pvm_sleep_ns(RETRY_NS);
	}
	if (!*stop) {
		struct pvm_err e = {0};

		/* From now on the main loop's calls also end when the lease runs out. */
		pvmd_client_close(h.cl);
		h.cl = NULL;
		ret = pvmd_client_open(cfg->controller, cfg->token, &h.poll_abort, &h.cl, err);
		if (ret < 0)
			goto out;
		/* The first heartbeat makes the host ready before any guest is placed. */
		if (do_heartbeat(&h, h.hb_cl, &e) < 0)
			pvm_log_warn("%s", e.msg);
		ret = pthread_create(&h.hb_thread, NULL, heartbeat_thread, &h);
		if (ret != 0) {
			ret = pvm_err_set(err, -ret, "heartbeat thread: %s", strerror(ret));
			goto out;
		}
		h.hb_running = true;
		pvmd_host_cost_start(&h);
	}
	while (!*stop) {
		struct pvm_err e = {0};
		bool fresh = poll_assignments(&h, poll_wait(&h, wait_s), &e) == 0;

		if (!fresh) {
			if (*stop)
				break;
			if (!h.poll_abort) {
				pvm_log_warn("%s", e.msg);
				pvm_sleep_ns(RETRY_NS);
			}
		}
		h.poll_abort = *stop;
		fence(&h, fresh);
		/* Reconcile even without fresh assignments: crashes and restarts are local. */
		if (!h.fenced)
			pvmd_host_reconcile(&h);
		pvmd_host_report(&h);
		if (!ready && h.assigned) {
			notify(&h, "READY=1");
			ready = true;
		}
		notify(&h, "WATCHDOG=1");
	}
	notify(&h, "STOPPING=1");
	if (cfg->stop_guests_on_exit)
		stop_all(&h);
	ret = 0;
out:
	pvmd_host_cost_join(&h);
	if (h.hb_running)
		pthread_join(h.hb_thread, NULL);
	pvmd_client_close(h.hb_cl);
	pvmd_host_forget_all(&h);
	json_object_put(h.assigned);
	json_object_put(h.kvm_features);
	json_object_put(h.platforms);
	pvmd_client_close(h.cl);
	pvmd_driver_close(&h.hv);
	pvmd_driver_close(&h.lv);
	return ret;
}
