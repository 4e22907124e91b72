/* SPDX-License-Identifier: MIT */
/*
 * /metrics in the Prometheus text format 0.0.4: API requests and latency
 * (counted here), host capacity and platforms, guests and their platforms,
 * per-guest hook statistics, vCPU exits and agent figures (read from the store
 * at scrape time).
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "api/handlers.h"
#include "controller/controller.h"
#include "store/store.h"

const double api_lat_bounds[API_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						0.05,	0.1,   0.25,   0.5,   1,    2.5};

const unsigned api_codes[API_NCODES] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
					412, 413, 415, 422, 500, 503, 504, 507, 0};

void api_stats_record(struct api_server *srv, const struct api_route *route, unsigned status,
		      uint64_t dur_ns)
{
	struct api_route_stats *s =
	    &srv->route_stats[route ? (size_t)(route - api_routes) : api_nroutes];
	double secs = (double)dur_ns / 1e9;
	size_t c = API_NCODES - 1, b = API_LAT_BUCKETS;

	for (size_t i = 0; i + 1 < API_NCODES; i++)
		if (api_codes[i] == status)
			c = i;
	for (size_t i = 0; i < API_LAT_BUCKETS; i++) {
		if (secs <= api_lat_bounds[i]) {
			b = i;
			break;
		}
	}
	atomic_fetch_add(&s->by_code[c], 1);
	atomic_fetch_add(&s->lat_bucket[b], 1);
	atomic_fetch_add(&s->lat_sum_us, dur_ns / 1000);
	atomic_fetch_add(&s->count, 1);
}

static void family(struct pvm_buf *b, const char *name, const char *type, const char *help)
{
	pvm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escaped as the text format wants (\\, \", \n). */
static void label(struct pvm_buf *b, const char *s)
{
	while (*s) {
		size_t run = strcspn(s, "\\\"\n");

		pvm_buf_append(b, s, run);
		s += run;
		if (!*s)
			break;
		pvm_buf_append(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		s++;
	}
}

static void route_labels(struct pvm_buf *b, size_t i)
{
	if (i < api_nroutes) {
		pvm_buf_printf(b, "method=\"%s\",route=\"", api_routes[i].method);
		label(b, api_routes[i].pattern);
		pvm_buf_append(b, "\"", 1);
	} else {
		pvm_buf_printf(b, "method=\"\",route=\"unmatched\"");
	}
}

static void api_metrics(struct api_server *srv, struct pvm_buf *b)
{
	family(b, "pvm_api_requests_total", "counter",
	       "API requests answered, by route and status.");
	for (size_t i = 0; i <= api_nroutes; i++) {
		for (size_t c = 0; c < API_NCODES; c++) {
			uint64_t v = atomic_load(&srv->route_stats[i].by_code[c]);

			if (!v)
				continue;
			pvm_buf_printf(b, "pvm_api_requests_total{");
			route_labels(b, i);
			if (api_codes[c])
				pvm_buf_printf(b, ",code=\"%u\"} %llu\n", api_codes[c],
					       (unsigned long long)v);
			else
				pvm_buf_printf(b, ",code=\"other\"} %llu\n", (unsigned long long)v);
		}
	}
	family(b, "pvm_api_request_duration_seconds", "histogram",
	       "Time from the request's first byte to the answer's last.");
	for (size_t i = 0; i <= api_nroutes; i++) {
		struct api_route_stats *s = &srv->route_stats[i];
		uint64_t n = atomic_load(&s->count), cum = 0;

		if (!n)
			continue;
		for (size_t k = 0; k <= API_LAT_BUCKETS; k++) {
			cum += atomic_load(&s->lat_bucket[k]);
			pvm_buf_printf(b, "pvm_api_request_duration_seconds_bucket{");
			route_labels(b, i);
			if (k < API_LAT_BUCKETS)
				pvm_buf_printf(b, ",le=\"%g\"} %llu\n", api_lat_bounds[k],
					       (unsigned long long)cum);
			else
				pvm_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		pvm_buf_printf(b, "pvm_api_request_duration_seconds_sum{");
		route_labels(b, i);
		pvm_buf_printf(b, "} %.6f\n", (double)atomic_load(&s->lat_sum_us) / 1e6);
		pvm_buf_printf(b, "pvm_api_request_duration_seconds_count{");
		route_labels(b, i);
		pvm_buf_printf(b, "} %llu\n", (unsigned long long)n);
	}
	family(b, "pvm_api_requests_in_flight", "gauge", "Requests being answered now.");
	pvm_buf_printf(b, "pvm_api_requests_in_flight %d\n", atomic_load(&srv->in_flight));
}

enum {
	H_UP,
	H_CPUS,
	H_ALLOC_CPUS,
	H_FREE_CPUS,
	H_OVERCOMMIT,
	H_MEM,
	H_FREE_MEM,
	H_DISK,
	H_FREE_DISK,
	H_HB,
	H_N
};

static const struct {
	const char *name, *help;
} host_fam[H_N] = {
    [H_UP] = {"pvm_host_up", "1 when the host is ready (heartbeating)."},
    [H_CPUS] = {"pvm_host_cpus", "CPUs the host offers to guests."},
    [H_ALLOC_CPUS] = {"pvm_host_allocated_vcpus",
		      "vCPUs of the guests bound to the host (may exceed its CPUs)."},
    [H_FREE_CPUS] = {"pvm_host_free_cpus",
		     "CPUs no bound guest's vCPU asks for (0 when overcommitted)."},
    [H_OVERCOMMIT] = {"pvm_host_cpu_overcommit_ratio",
		      "Allocated vCPUs per CPU the host offers (above 1: overcommitted)."},
    [H_MEM] = {"pvm_host_memory_bytes", "Memory the host offers to guests."},
    [H_FREE_MEM] = {"pvm_host_free_memory_bytes", "Memory not requested by bound guests."},
    [H_DISK] = {"pvm_host_disk_bytes", "Disk the host offers to guests."},
    [H_FREE_DISK] = {"pvm_host_free_disk_bytes", "Disk not requested by bound guests."},
    [H_HB] = {"pvm_host_last_heartbeat_timestamp_seconds", "Time of the last heartbeat."},
};

/* One pvm_host_platforms row per platform the host's capabilities offer, and
 * one pvm_host_exit_cost_seconds row per platform it measured an exit on. */
static void host_platforms(struct pvm_buf *b, struct pvm_buf *cost, const struct store_host *h)
{
	json_object *caps = api_json_text(h->capabilities), *v = NULL, *c = NULL;
	uint32_t bits = 0;

	if (json_object_object_get_ex(caps, "platforms", &v))
		bits = pvm_platform_set(v);
	json_object_object_get_ex(caps, "exit_cost_ns", &c);
	for (unsigned p = 0; p < PVM_PLATFORM_COUNT; p++) {
		if (bits & PVM_PLATFORM_BIT(p)) {
			pvm_buf_printf(b, "pvm_host_platforms{host=\"%s\",name=\"", h->id);
			label(b, h->name);
			pvm_buf_printf(b, "\",platform=\"%s\"} 1\n", pvm_platform_name(p));
		}
		if (c && json_object_object_get_ex(c, pvm_platform_name(p), &v)) {
			pvm_buf_printf(cost, "pvm_host_exit_cost_seconds{host=\"%s\",name=\"",
				       h->id);
			label(cost, h->name);
			pvm_buf_printf(cost, "\",platform=\"%s\"} %.9g\n", pvm_platform_name(p),
				       (double)json_object_get_int64(v) / 1e9);
		}
	}
	json_object_put(caps);
}

static int host_metrics(struct store *st, struct pvm_buf *out, struct pvm_err *err)
{
	struct pvm_buf fam[H_N], plat, cost;
	char next[STORE_ID_MAX] = "";
	int ret = 0;

	for (int f = 0; f < H_N; f++) {
		pvm_buf_init(&fam[f]);
		family(&fam[f], host_fam[f].name, "gauge", host_fam[f].help);
	}
	pvm_buf_init(&plat);
	family(&plat, "pvm_host_platforms", "gauge",
	       "1 for each hv platform (kvm, process) the host offers.");
	pvm_buf_init(&cost);
	family(&cost, "pvm_host_exit_cost_seconds", "gauge",
	       "What one vCPU exit costs on the host, by platform, as it measured at start.");
	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_host_list l = {0};

		ret = store_host_list(st, &o, &l, err);
		if (ret < 0)
			goto out;
		for (size_t i = 0; i < l.n; i++) {
			const struct store_host *h = &l.items[i];
			/* vCPUs are only accounted, never refused: the store's free
			 * CPUs go negative under overcommit, which a consumer would
			 * read as capacity lost, so allocation is its own figure. */
			int64_t alloc = h->cpus - h->free_cpus;
			double v[H_N] = {
			    [H_UP] = h->state == STORE_HOST_READY,
			    [H_CPUS] = (double)h->cpus,
			    [H_ALLOC_CPUS] = (double)alloc,
			    [H_FREE_CPUS] = (double)(h->free_cpus > 0 ? h->free_cpus : 0),
			    [H_OVERCOMMIT] = h->cpus > 0 ? (double)alloc / (double)h->cpus : 0,
			    [H_MEM] = (double)(h->memory_mib << 20),
			    [H_FREE_MEM] = (double)(h->free_memory_mib << 20),
			    [H_DISK] = (double)(h->disk_gib << 30),
			    [H_FREE_DISK] = (double)(h->free_disk_gib << 30),
			    [H_HB] = (double)h->last_heartbeat_ms / 1000.0,
			};

			for (int f = 0; f < H_N; f++) {
				pvm_buf_printf(&fam[f], "%s{host=\"%s\",name=\"", host_fam[f].name,
					       h->id);
				label(&fam[f], h->name);
				pvm_buf_printf(&fam[f], "\"} %.15g\n", v[f]);
			}
			host_platforms(&plat, &cost, h);
		}
		snprintf(next, sizeof(next), "%s", l.next);
		store_host_list_free(&l);
	} while (next[0]);
	for (int f = 0; f < H_N; f++)
		pvm_buf_append(out, fam[f].data, fam[f].len);
	pvm_buf_append(out, plat.data, plat.len);
	pvm_buf_append(out, cost.data, cost.len);
out:
	for (int f = 0; f < H_N; f++)
		pvm_buf_free(&fam[f]);
	pvm_buf_free(&plat);
	pvm_buf_free(&cost);
	return ret;
}

enum { S_CALLS, S_DOORBELLS, S_BYTES, S_ERRORS, S_AVOIDED, S_N };

static const struct {
	const char *name, *help;
} stat_fam[S_N] = {
    [S_CALLS] = {"pvm_hook_calls_total", "Hook calls a guest made."},
    [S_DOORBELLS] = {"pvm_hook_doorbells_total", "Doorbell writes (exits) for a hook."},
    [S_BYTES] = {"pvm_hook_bytes_total", "Bytes moved through a hook."},
    [S_ERRORS] = {"pvm_hook_errors_total", "Hook calls refused with an error."},
    [S_AVOIDED] = {"pvm_hook_exits_avoided_total", "Exits the emulated twin would have taken."},
};

struct stat_walk {
	struct api_server *srv;
	struct pvm_buf fam[S_N];
	struct pvm_buf lb; /* one row's labels, reused */
};

/* The hot loop of a scrape (guests x hooks x families): no printf. */
static void append_i64(struct pvm_buf *b, int64_t v)
{
	char d[24];
	size_t n = sizeof(d);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		d[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		d[--n] = '-';
	pvm_buf_append(b, d + n, sizeof(d) - n);
}

static void append_str(struct pvm_buf *b, const char *s)
{
	pvm_buf_append(b, s, strlen(s));
}

static int stat_row(const struct store_hook_stat *st, void *arg)
{
	struct stat_walk *w = arg;
	int64_t v[S_N] = {st->calls, st->doorbells, st->bytes, st->errors, st->exits_avoided};
	char host[STORE_ID_MAX] = "";
	struct pvm_buf *lb = &w->lb;

	/* The controller's fleet knows every binding: no store read per row. */
	controller_guest_host(w->srv->cfg.controller, st->guest_id, host, sizeof(host));
	pvm_buf_reset(lb);
	append_str(lb, "{host=\"");
	label(lb, host);
	append_str(lb, "\",guest=\"");
	label(lb, st->guest_id);
	append_str(lb, "\",hook=\"");
	label(lb, st->hook);
	append_str(lb, "\"} ");
	for (int f = 0; f < S_N; f++) {
		append_str(&w->fam[f], stat_fam[f].name);
		pvm_buf_append(&w->fam[f], lb->data, lb->len);
		append_i64(&w->fam[f], v[f]);
		pvm_buf_append(&w->fam[f], "\n", 1);
	}
	return 0;
}

/* pvm_guest_info: one row per guest, its kind and the platform its host
 * reported it runs on ("" until reported). */
static int guest_info(struct store *st, struct pvm_buf *out, struct pvm_err *err)
{
	char next[STORE_ID_MAX] = "";
	int ret;

	family(out, "pvm_guest_info", "gauge",
	       "1 per guest: its kind and the hv platform it runs on (\"\" until reported).");
	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_guest_list l = {0};

		ret = store_guest_list(st, &o, &l, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n; i++) {
			const struct store_guest *g = &l.items[i];

			append_str(out, "pvm_guest_info{guest=\"");
			label(out, g->id);
			append_str(out, "\",name=\"");
			label(out, g->name);
			append_str(out, "\",kind=\"");
			append_str(out, store_guest_kind_name(g->kind));
			append_str(out, "\",platform=\"");
			label(out, g->platform);
			append_str(out, "\"} 1\n");
		}
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (next[0]);
	return 0;
}

static int guest_metrics(struct api_server *srv, struct pvm_buf *out, struct pvm_err *err)
{
	struct stat_walk w = {.srv = srv};
	int ret;

	family(out, "pvm_guests_bound", "gauge", "Guests bound to a host.");
	pvm_buf_printf(out, "pvm_guests_bound %u\n", controller_nguests(srv->cfg.controller));
	family(out, "pvm_controller_leader", "gauge",
	       "1 while this controller holds the leader lease (it places, reaps, evacuates).");
	pvm_buf_printf(out, "pvm_controller_leader %d\n",
		       controller_role(srv->cfg.controller) == CONTROLLER_LEADER);
	family(out, "pvm_controller_fleet_seq", "gauge",
	       "The last store event this controller's fleet took in.");
	pvm_buf_printf(out, "pvm_controller_fleet_seq %lld\n",
		       (long long)controller_seq(srv->cfg.controller));
	family(out, "pvm_placements_total", "counter",
	       "Placement attempts this controller made while it led, by result "
	       "(a pending guest is tried again every pass).");
	for (unsigned r = 0; r < CONTROLLER_PLACE_NR; r++)
		pvm_buf_printf(out, "pvm_placements_total{result=\"%s\"} %llu\n",
			       controller_place_result_name(r),
			       (unsigned long long)controller_placements(srv->cfg.controller, r));
	for (int f = 0; f < S_N; f++) {
		pvm_buf_init(&w.fam[f]);
		family(&w.fam[f], stat_fam[f].name, "counter", stat_fam[f].help);
	}
	pvm_buf_init(&w.lb);
	ret = store_hook_stats_foreach(srv->cfg.store, stat_row, &w, err);
	pvm_buf_free(&w.lb);
	for (int f = 0; f < S_N; f++) {
		if (ret == 0)
			pvm_buf_append(out, w.fam[f].data, w.fam[f].len);
		pvm_buf_free(&w.fam[f]);
	}
	return ret;
}

/* Two families a walk over the store fills row by row, each kept whole:
 * appended to the scrape only when the walk succeeded. */
struct fam_pair {
	struct pvm_buf f[2];
};

struct fam_def {
	const char *name, *type, *help;
};

static void pair_init(struct fam_pair *p, const struct fam_def d[2])
{
	for (int i = 0; i < 2; i++) {
		pvm_buf_init(&p->f[i]);
		family(&p->f[i], d[i].name, d[i].type, d[i].help);
	}
}

static int pair_end(struct fam_pair *p, struct pvm_buf *out, int ret)
{
	for (int i = 0; i < 2; i++) {
		if (ret == 0)
			pvm_buf_append(out, p->f[i].data, p->f[i].len);
		pvm_buf_free(&p->f[i]);
	}
	return ret;
}

/*
 * A report's "total" row is the sum of the others but host kicks: kept out
 * of the reasons' family, where sum by guest would count every exit twice,
 * and exported as the guest's own count.
 */
static int exit_row(const struct store_exit_count *e, void *arg)
{
	struct fam_pair *w = arg;
	bool total = strcmp(e->reason, "total") == 0;
	struct pvm_buf *b = &w->f[total];

	append_str(b, total ? "pvm_guest_vcpu_guest_exits_total{guest=\""
			    : "pvm_guest_vcpu_exits_total{guest=\"");
	label(b, e->guest_id);
	if (!total) {
		append_str(b, "\",reason=\"");
		label(b, e->reason);
	}
	append_str(b, "\"} ");
	append_i64(b, e->count);
	pvm_buf_append(b, "\n", 1);
	return 0;
}

static int agent_row(const struct store_guest_agent *a, void *arg)
{
	struct fam_pair *w = arg;
	struct pvm_buf *calls_b = &w->f[0], *stale_b = &w->f[1];
	json_object *o = api_json_text(a->state), *rep = NULL, *hooks = NULL, *calls;

	append_str(stale_b, "pvm_guest_agent_stale{guest=\"");
	label(stale_b, a->guest_id);
	append_str(stale_b, a->stale ? "\"} 1\n" : "\"} 0\n");
	if (json_object_object_get_ex(o, "report", &rep) &&
	    json_object_object_get_ex(rep, "hooks", &hooks) &&
	    json_object_is_type(hooks, json_type_object)) {
		json_object_object_foreach(hooks, hook, h)
		{
			if (!json_object_object_get_ex(h, "calls", &calls))
				continue;
			append_str(calls_b, "pvm_guest_agent_hook_calls_total{guest=\"");
			label(calls_b, a->guest_id);
			append_str(calls_b, "\",hook=\"");
			label(calls_b, hook);
			append_str(calls_b, "\"} ");
			append_i64(calls_b, json_object_get_int64(calls));
			pvm_buf_append(calls_b, "\n", 1);
		}
	}
	json_object_put(o);
	return 0;
}

/* What hosts relay beside hook statistics: vCPU exits and the agent's state. */
static int relay_metrics(struct api_server *srv, struct pvm_buf *out, struct pvm_err *err)
{
	static const struct fam_def exits[2] = {
	    {"pvm_guest_vcpu_exits_total", "counter",
	     "vCPU exits of a guest's VMM by reason (intr: the host's kicks)."},
	    {"pvm_guest_vcpu_guest_exits_total", "counter",
	     "vCPU exits a guest caused: every reason but the host's kicks."},
	};
	static const struct fam_def agent[2] = {
	    {"pvm_guest_agent_hook_calls_total", "counter",
	     "Hook calls the guest agent counted inside the guest."},
	    {"pvm_guest_agent_stale", "gauge",
	     "1 when the guest agent missed its report intervals."},
	};
	struct fam_pair w;
	int ret;

	pair_init(&w, exits);
	ret = pair_end(&w, out, store_guest_exits_foreach(srv->cfg.store, exit_row, &w, err));
	if (ret < 0)
		return ret;
	pair_init(&w, agent);
	return pair_end(&w, out, store_guest_agent_foreach(srv->cfg.store, agent_row, &w, err));
}

int api_h_metrics(struct api_req *rq, struct api_resp *rs)
{
	struct pvm_err err = {0};
	struct pvm_buf b;
	int ret;

	pvm_buf_init(&b);
	api_metrics(rq->srv, &b);
	ret = host_metrics(rq->srv->cfg.store, &b, &err);
	if (ret == 0)
		ret = guest_info(rq->srv->cfg.store, &b, &err);
	if (ret == 0)
		ret = guest_metrics(rq->srv, &b, &err);
	if (ret == 0)
		ret = relay_metrics(rq->srv, &b, &err);
	if (ret < 0 || b.failed) {
		pvm_buf_free(&b);
		return api_store_problem(rs, ret < 0 ? ret : -ENOMEM, &err);
	}
	rs->status = 200;
	rs->raw_len = b.len;
	rs->raw = pvm_buf_steal(&b);
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}
