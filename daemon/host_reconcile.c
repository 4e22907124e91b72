/* SPDX-License-Identifier: MIT */
/*
 * Reconciling desired against observed state: define and start what is
 * assigned and should run, stop what should not, restart what ended per the
 * guest's restart policy with exponential backoff, stop and undefine what
 * is no longer assigned here; then report what changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/host-int.h"

#define HTTP_TIMEOUT 10
/* How long a started guest's agent is asked for its hello every loop turn. */
#define HELLO_WAIT_NS (10ull * 1000000000ull)

static struct pvmd_hg *hg_find(struct pvmd_host *h, const char *id)
{
	for (size_t i = 0; i < h->ng; i++)
		if (strcmp(h->g[i].id, id) == 0)
			return &h->g[i];
	return NULL;
}

static struct pvmd_hg *hg_get(struct pvmd_host *h, const char *id)
{
	struct pvmd_hg *g = hg_find(h, id);

	if (g)
		return g;
	if (h->ng == h->capg) {
		size_t cap = h->capg ? h->capg * 2 : 16;
		struct pvmd_hg *n = realloc(h->g, cap * sizeof(*n));

		if (!n)
			return NULL;
		h->g = n;
		h->capg = cap;
	}
	g = &h->g[h->ng++];
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	return g;
}

static void hg_forget(struct pvmd_host *h, const char *id)
{
	struct pvmd_hg *g = hg_find(h, id);

	if (!g)
		return;
	*g = h->g[--h->ng];
}

void pvmd_host_forget_all(struct pvmd_host *h)
{
	free(h->g);
	h->g = NULL;
	h->ng = h->capg = 0;
}

void pvmd_host_update_used(struct pvmd_host *h)
{
	int64_t cpus = 0, mem = 0;

	for (size_t i = 0; i < h->ng; i++) {
		if (!h->g[i].running)
			continue;
		cpus += h->g[i].vcpus;
		mem += h->g[i].memory_mib;
	}
	__atomic_store_n(&h->used_cpus, cpus, __ATOMIC_RELAXED);
	__atomic_store_n(&h->used_mem_mib, mem, __ATOMIC_RELAXED);
}

static const char *str_of(json_object *o, const char *name, const char *def)
{
	const char *s = def;

	pvm_json_get_str(o, name, &s);
	return s ? s : def;
}

/* An image name that is not a path is looked up in the image directory. */
void pvmd_host_image_path(struct pvmd_host *h, const char *image, char *out, size_t len)
{
	static const char *const forms[] = {"%s/%s", "%s/guest-%s"};
	char def[4096];
	const char *dir = h->cfg->image_dir;

	if (strchr(image, '/')) {
		snprintf(out, len, "%s", image);
		return;
	}
	if (!dir) {
		if ((size_t)snprintf(def, sizeof(def), "%s/images", h->cfg->state_dir) >=
		    sizeof(def))
			def[0] = '\0';
		dir = def;
	}
	for (size_t i = 0; i < PVM_ARRAY_SIZE(forms); i++)
		if ((size_t)snprintf(out, len, forms[i], dir, image) < len &&
		    access(out, R_OK) == 0)
			return;
	/* Not found: define reports this path as missing. */
	if ((size_t)snprintf(out, len, "%s/%s", dir, image) >= len)
		snprintf(out, len, "%s", image);
}

static int define_guest(struct pvmd_host *h, struct pvmd_hg *g, json_object *a, struct pvm_err *err)
{
	json_object *spec = NULL, *pv = NULL;
	struct pvmd_guest_def def = {0};
	char image[4096], args[4200];
	const char *img, *cmdline;
	bool emulated = false;

	json_object_object_get_ex(a, "spec", &spec);
	/* A registered image's source, as the API resolved it, else the name. */
	img = str_of(a, "image_source", str_of(spec, "image", NULL));
	if (!img)
		return pvm_err_field(err, -EINVAL, "/spec/image", "guest %s has no image", g->id);
	pvmd_host_image_path(h, img, image, sizeof(image));
	if (json_object_object_get_ex(spec, "pv", &pv) && pv)
		pvm_json_get_bool(pv, "needs_emulation", &emulated);
	def.id = g->id;
	def.name = str_of(a, "name", g->id);
	def.vcpus = (unsigned)g->vcpus;
	def.memory_mib = (uint64_t)g->memory_mib;
	def.image = image;
	def.disk_gib = g->disk_gib > 0 ? (uint64_t)g->disk_gib : 0;
	/* The microguest workloads take their mode from the command line; a
	 * spec that names a mode itself, and a kernel's, are taken as they are. */
	cmdline = str_of(spec, "cmdline", "");
	if (strstr(cmdline, "mode=") || g->drv != &h->hv)
		snprintf(args, sizeof(args), "%s", cmdline);
	else
		snprintf(args, sizeof(args), "mode=%s%s%s", emulated ? "emulated" : "pv",
			 *cmdline ? " " : "", cmdline);
	def.cmdline = args;
	def.state_dir = h->cfg->state_dir;
	/* A known name (the API checked it), offered here (the scheduler checked that). */
	def.platform = str_of(spec, "platform", NULL);
	return g->drv->ops->define(g->drv->priv, &def, err);
}

static const char *observed_name(enum pvmd_guest_state st, bool want_running)
{
	switch (st) {
	case PVMD_GUEST_RUNNING:
	case PVMD_GUEST_PAUSED:
		return "running";
	case PVMD_GUEST_DEFINED:
		return want_running ? "starting" : "stopped";
	case PVMD_GUEST_STOPPED:
		return "stopped";
	case PVMD_GUEST_CRASHED:
		return "failed";
	default:
		return "unknown";
	}
}

static void start_guest(struct pvmd_hg *g)
{
	struct pvm_err err = {0};

	if (g->drv->ops->start(g->drv->priv, g->id, &err) < 0)
		pvm_log_error("start guest %s: %s", g->id, err.msg);
}

/* A guest that ended while it should run: restart it when its policy says so. */
static void maybe_restart(struct pvmd_host *h, struct pvmd_hg *g, enum pvmd_guest_state st,
			  const char *policy, uint64_t now)
{
	bool again = strcmp(policy, "always") == 0 ||
		     (strcmp(policy, "on-failure") == 0 && st == PVMD_GUEST_CRASHED);
	uint64_t delay;

	if (!again)
		return;
	if (!g->restart_at) {
		delay = h->backoff_ns << (g->restarts < 16 ? g->restarts : 16);
		if (delay > h->backoff_max_ns)
			delay = h->backoff_max_ns;
		g->restart_at = now + delay;
		pvm_log_warn("guest %s %s; restart %u in %llu ms (policy %s)", g->id,
			     st == PVMD_GUEST_CRASHED ? "crashed" : "stopped", g->restarts + 1,
			     (unsigned long long)(delay / 1000000), policy);
		return;
	}
	if (now < g->restart_at)
		return;
	g->restart_at = 0;
	g->restarts++;
	pvm_log_info("guest %s: restarting (restart %u)", g->id, g->restarts);
	start_guest(g);
}

static void reconcile_one(struct pvmd_host *h, json_object *a, uint64_t now)
{
	const char *id = str_of(a, "id", NULL), *kind = str_of(a, "kind", "microguest");
	const char *policy = str_of(a, "restart_policy", "never");
	bool want = strcmp(str_of(a, "desired_state", "running"), "running") == 0;
	enum pvmd_guest_state st = PVMD_GUEST_UNKNOWN;
	struct pvm_err err = {0};
	struct pvmd_hg *g;
	int ret;

	if (!id || !(g = hg_get(h, id)))
		return;
	pvm_json_get_int(a, "vcpus", &g->vcpus);
	pvm_json_get_int(a, "memory_mib", &g->memory_mib);
	pvm_json_get_int(a, "disk_gib", &g->disk_gib);
	g->drv = strcmp(kind, "microguest") == 0 ? &h->hv : (h->lv.ops ? &h->lv : NULL);
	if (!g->drv) {
		if (!g->define_failed)
			pvm_log_error("guest %s: kind %s needs the libvirt driver, which this host "
				      "does not run",
				      id, kind);
		g->define_failed = true;
		snprintf(g->observed, sizeof(g->observed), "failed");
		return;
	}
	ret = g->drv->ops->state(g->drv->priv, id, &st, &err);
	if (ret == -ENOENT) {
		ret = define_guest(h, g, a, &err);
		if (ret < 0) {
			if (!g->define_failed)
				pvm_log_error("define guest %s: %s", id, err.msg);
			g->define_failed = true;
			snprintf(g->observed, sizeof(g->observed), "failed");
			return;
		}
		g->define_failed = false;
		st = PVMD_GUEST_DEFINED;
	} else if (ret < 0) {
		pvm_log_warn("guest %s: %s", id, err.msg);
		return;
	}
	if (want) {
		if (st == PVMD_GUEST_RUNNING || st == PVMD_GUEST_PAUSED) {
			g->restart_at = 0;
			if (!g->running_since) {
				g->running_since = now;
				g->hello_relayed = false;
				g->hello_until = now + HELLO_WAIT_NS;
			}
			/* A guest that stayed up long enough starts its backoff afresh. */
			if (now - g->running_since > h->backoff_max_ns)
				g->restarts = 0;
		} else if (st == PVMD_GUEST_DEFINED) {
			start_guest(g);
		} else if (g->stop_asked && st == PVMD_GUEST_STOPPED) {
			pvm_log_info("guest %s: starting (desired state running)", id);
			g->running_since = 0;
			start_guest(g);
		} else if (st == PVMD_GUEST_STOPPED || st == PVMD_GUEST_CRASHED) {
			g->running_since = 0;
			maybe_restart(h, g, st, policy, now);
		}
		g->stop_asked = false;
	} else if (st == PVMD_GUEST_RUNNING || st == PVMD_GUEST_PAUSED) {
		pvm_log_info("guest %s: stopping (desired state stopped)", id);
		if (g->drv->ops->stop(g->drv->priv, id, h->stop_timeout_ms, &err) < 0)
			pvm_log_error("stop guest %s: %s", id, err.msg);
		g->restart_at = 0;
		g->stop_asked = true;
	} else {
		g->stop_asked = true;
	}
	if (g->drv->ops->state(g->drv->priv, id, &st, &err) == 0) {
		snprintf(g->observed, sizeof(g->observed), "%s", observed_name(st, want));
		g->running = st == PVMD_GUEST_RUNNING || st == PVMD_GUEST_PAUSED;
		if (!g->running)
			g->running_since = 0;
	}
}

static bool assigned_here(struct pvmd_host *h, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(h->assigned); i++) {
		const char *aid = str_of(json_object_array_get_idx(h->assigned, i), "id", "");

		if (strcmp(aid, id) == 0)
			return true;
	}
	return false;
}

/* Guests deleted or moved to another host: stop and forget them here. */
static void remove_unassigned(struct pvmd_host *h, struct pvmd_driver *drv)
{
	struct pvmd_guest_info *infos = NULL;
	struct pvm_err err = {0};
	size_t n = 0;

	if (!drv->ops || drv->ops->list(drv->priv, &infos, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (assigned_here(h, infos[i].id))
			continue;
		pvm_log_info("guest %s is no longer assigned here: removing it", infos[i].id);
		if (drv->ops->stop(drv->priv, infos[i].id, h->stop_timeout_ms, &err) < 0 ||
		    drv->ops->undefine(drv->priv, infos[i].id, &err) < 0)
			pvm_log_error("remove guest %s: %s", infos[i].id, err.msg);
		hg_forget(h, infos[i].id);
	}
	free(infos);
}

void pvmd_host_reconcile(struct pvmd_host *h)
{
	uint64_t now = pvm_now_ns();

	/* Until the controller has answered once, nothing here is known to be stale. */
	if (!h->assigned)
		return;
	for (size_t i = 0; i < json_object_array_length(h->assigned) && !*h->stop; i++)
		reconcile_one(h, json_object_array_get_idx(h->assigned, i), now);
	remove_unassigned(h, &h->hv);
	remove_unassigned(h, &h->lv);
	pvmd_host_update_used(h);
}

/* Returns the HTTP status, 0 when the controller was not reached. */
static long send_report(struct pvmd_host *h, struct pvmd_hg *g, json_object *body)
{
	struct pvm_err err = {0};
	json_object *ans = NULL;
	char path[128];
	long status = 0;

	snprintf(path, sizeof(path), "/v1/guests/%s/reports", g->id);
	if (pvmd_client_call(h->cl, "POST", path, body, HTTP_TIMEOUT, &status, &ans, &err) < 0) {
		pvm_log_warn("report guest %s: %s", g->id, err.msg);
	} else if (status != 200) {
		const char *detail = "";

		pvm_json_get_str(ans, "detail", &detail);
		pvm_log_warn("report guest %s: HTTP %ld %s", g->id, status, detail);
	} else {
		snprintf(g->reported, sizeof(g->reported), "%s", g->observed);
	}
	json_object_put(ans);
	return status;
}

static bool hello_pending(const struct pvmd_hg *g, uint64_t now)
{
	return g->running && g->drv && g->drv->ops->agent && !g->hello_relayed &&
	       now < g->hello_until;
}

bool pvmd_host_hello_pending(const struct pvmd_host *h, uint64_t now)
{
	for (size_t i = 0; i < h->ng; i++)
		if (hello_pending(&h->g[i], now))
			return true;
	return false;
}

/* The agent's state for the report; NULL before its hello or without an agent channel. */
static json_object *agent_relay(struct pvmd_hg *g)
{
	json_object *doc = NULL, *relay;

	if (!g->drv->ops->agent || g->drv->ops->agent(g->drv->priv, g->id, &doc, NULL) < 0)
		return NULL;
	relay = pvmd_report_agent(doc);
	json_object_put(doc);
	return relay;
}

/* The statistics report of g's VMM into body; a VMM whose report breaks the
 * controller's rules is logged here, and its figures left out, rather than
 * getting the whole report refused. */
static void add_stats(struct pvmd_hg *g, json_object *body)
{
	struct pvm_report *rep = calloc(1, sizeof(*rep));
	struct pvm_err err = {0};
	json_object *stats = NULL;
	int ret;

	if (!rep || g->drv->ops->stats(g->drv->priv, g->id, &stats, NULL) < 0)
		goto out;
	ret = pvmd_report_from_stats(stats, rep, &err);
	if (ret == 0)
		ret = pvm_report_encode(rep, body);
	if (ret < 0 && ret != -ENOENT)
		pvm_log_warn("report guest %s: VMM statistics%s%s: %s", g->id,
			     err.field[0] ? " " : "", err.field,
			     ret == -ENOMEM ? "out of memory" : err.msg);
out:
	json_object_put(stats);
	free(rep);
}

void pvmd_host_report(struct pvmd_host *h)
{
	uint64_t now = pvm_now_ns();

	/* One pass per loop turn over one kept-alive connection: the batch. */
	for (size_t i = 0; i < h->ng && !*h->stop; i++) {
		struct pvmd_hg *g = &h->g[i];
		bool changed = g->observed[0] && strcmp(g->observed, g->reported) != 0;
		/* A guest that ended reports its final statistics with the change. */
		bool stats_due =
		    g->drv && ((g->running && now >= g->next_stats) || (changed && !g->running));
		json_object *body, *agent = NULL;
		long status;

		if (!stats_due && hello_pending(g, now))
			agent = agent_relay(g);
		if (!changed && !stats_due && !agent)
			continue;
		body = json_object_new_object();
		json_object_object_add(body, "observed_state", json_object_new_string(g->observed));
		if (stats_due) {
			g->next_stats = now + h->report_ns;
			add_stats(g, body);
			if (g->running)
				agent = agent_relay(g);
		}
		if (agent)
			json_object_object_add(body, "agent", agent);
		status = send_report(h, g, body);
		if (status == 400 && agent) {
			/* What the guest said may be refused; the VMM's figures still count. */
			json_object_object_del(body, "agent");
			status = send_report(h, g, body);
		}
		if (status == 200 && agent)
			g->hello_relayed = true;
		json_object_put(body);
	}
}
