/* SPDX-License-Identifier: MIT */
/*
 * bench_pvaware: does pv-aware placement get more work out of real guests
 * than placement by capacity alone? One controller and two host daemons,
 * each pinned to one CPU (pvmd and its VMMs inherit it; the controller and
 * this program float, there being no third CPU here): host a offers
 * every hook, host b the clock page, the agent channel and halt but no I/O
 * hooks (a host whose VMM predates them, as in a rolling upgrade). The same fixed mix of
 * microguests, created one by one through the REST API in the same order,
 * is placed once by the default policy (pv-aware) and once by binpack alone
 * (pv-blind: the same filters, capacity the only score), in alternating
 * rounds of the same run:
 *
 *   steady kind=console|block|clock as pv twins that prefer their hook and
 *   use it where it is offered (the emulated device where it is not), the
 *   same three emulated (exit-heavy, no hook wanted), and compute; then the
 *   probe, which times 1,000 short console writes.
 *
 * Each guest counts the work it completed (agent counter work_units); the
 * rates are taken from the controller's view by the benchmark's clock, and
 * for the console and block guests checked against what the VMM served.
 * A guest's work is weighed by its rate alone on host a (measured first,
 * in the same run), so the total is in units of one guest running alone
 * with its hooks:
 *
 *   pv_aware_work_ratio   that total, pv-aware over pv-blind (median)
 *   pv_aware_p99_ratio    the probe's p99 op latency, pv-blind over pv-aware
 *   pv_aware_hosts_used   hosts the pv-aware placement used (and pv-blind's;
 *                         medians)
 *
 * BENCH_PVAWARE_ROUNDS sets the rounds (default 3).
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/common/bench.h"
#include "bench/common/pvmd.h"
#include "common/common.h"
#include "hv/pv_abi.h"
#include "tests/daemon/aio.h"

#define ROUNDS_DEFAULT 3
#define ROUNDS_MAX     9
#define HOSTS	       2
#define WINDOW_NS      (12ull * 1000000000ull)
#define SOLO_NS	       (6ull * 1000000000ull)
#define POLL_NS	       (250ull * 1000000ull)
#define DEADLINE_NS    (90ull * 1000000000ull)
#define REPORT_WAIT_NS (30ull * 1000000000ull)
#define REPORTS_SEEN   2	     /* agent reports a guest has sent before the next create */
#define SLACK_BYTES    (64.0 * 1024) /* a console buffer and ring, a block batch */

/*
 * What the VMM counts of a guest's work: with its hook, the hook's bytes;
 * on the emulated twin (emulated, or a pv twin on a host without the hook),
 * its I/O exits. 0: not counted by the VMM (clock page reads, compute).
 */
struct vmm_count {
	const char *hook;
	double bytes_per_unit;
	double exits_per_unit;
};

/* a console unit is a byte; a block unit a KiB written and read back,
 * 2 + 2 sectors */
#define VMM_CONSOLE                                                                                \
	{                                                                                          \
		"console", 1, PV_TWIN_EXITS_PER_CONSOLE_BYTE                                       \
	}
#define VMM_BLOCK                                                                                  \
	{                                                                                          \
		"block", 2048, 4 * PV_TWIN_EXITS_PER_BLOCK_SECTOR                                  \
	}
#define VMM_NONE                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

struct work {
	const char *name;
	const char *image;
	const char *cmdline;
	const char *pv; /* the spec's "pv" object */
	int disk_gib;	/* 1 for block */
	struct vmm_count vmm;
};

#define PV(h) "{\"hooks_preferred\":[\"" h "\"],\"abi_version\":1}"
#define EMU   "{\"needs_emulation\":true}"

/* The mix, in the order it is created; the probe comes last. */
static const struct work mix[] = {
    {"console-pv", "steady", "kind=console", PV("console"), 0, VMM_CONSOLE},
    {"console-emu", "steady", "kind=console mode=emulated agent=on", EMU, 0, VMM_CONSOLE},
    {"block-pv", "steady", "kind=block", PV("block"), 1, VMM_BLOCK},
    {"compute-1", "steady", "kind=compute", "{}", 0, VMM_NONE},
    {"clock-pv", "steady", "kind=clock", PV("clock"), 0, VMM_NONE},
    {"block-emu", "steady", "kind=block mode=emulated agent=on", EMU, 1, VMM_BLOCK},
    {"clock-emu", "steady", "kind=clock mode=emulated agent=on", EMU, 0, VMM_NONE},
    {"probe", "probe", "ops=1000 gap_us=2000", PV("console"), 0, VMM_NONE},
};
#define NMIX  (sizeof(mix) / sizeof(mix[0]))
#define PROBE (NMIX - 1)

struct guest {
	char id[64];
	char host[64];
	/* first and last change of the agent's report seen in the window */
	uint64_t t0, t1, u0, u1;
	double v0, v1; /* the VMM's count, in units */
	int64_t report_no;
	double rate; /* work units per second */
};

struct policy {
	const char *name;
	const char *sched; /* --sched-policy */
};

static const struct policy policies[2] = {
    {"pv-aware", "cpu_overcommit=4"},
    {"pv-blind", "scorers=binpack:1;cpu_overcommit=4"},
};

static char top[64];
static double solo[NMIX];
static const char *const host_names[HOSTS] = {"pva-a", "pva-b"};
static char host_ids[HOSTS][64]; /* this cluster's a and b */

/* "a" or "b" for a host id. */
static const char *host_letter(const char *id)
{
	return !strcmp(id, host_ids[0]) ? "a" : !strcmp(id, host_ids[1]) ? "b" : "?";
}

static int64_t int_at(json_object *o, const char *path)
{
	json_object *v = aio_at(o, path);

	return v ? json_object_get_int64(v) : -1;
}

/* Whether the guest's VMM accepted hook, from the guest's answer. */
static bool accepted(json_object *g, const char *hook)
{
	json_object *caps = aio_at(g, "capabilities");

	for (size_t i = 0; caps && i < json_object_array_length(caps); i++) {
		json_object *c = json_object_array_get_idx(caps, i);

		if (!strcmp(aio_str_at(c, "name"), hook))
			return !strcmp(aio_str_at(c, "state"), "accepted");
	}
	return false;
}

/* What the VMM counted of w's work in units, from the guest's answer; -1
 * when it counts none. */
static double vmm_units(const struct work *w, json_object *g)
{
	json_object *stats = aio_at(g, "hook_stats");

	if (!w->vmm.hook)
		return -1;
	if (!accepted(g, w->vmm.hook))
		return (double)int_at(g, "exits.io") / w->vmm.exits_per_unit;
	for (size_t i = 0; stats && i < json_object_array_length(stats); i++) {
		json_object *s = json_object_array_get_idx(stats, i);

		if (!strcmp(aio_str_at(s, "hook"), w->vmm.hook))
			return (double)int_at(s, "bytes") / w->vmm.bytes_per_unit;
	}
	return -1;
}

static int get_guest(struct bench_ctl *c, const char *id, json_object **g)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/guests/%.63s", id);
	return bench_ctl_call(c, "GET", path, NULL, 200, g);
}

/* Prints what the policy makes of the guest body on each host, as explain
 * answers it just before the create. */
static void explain(struct bench_ctl *c, const char *name, const char *body)
{
	json_object *e, *hosts;

	if (bench_ctl_call(c, "POST", "/v1/placements/explain", body, 200, &e) < 0)
		return;
	hosts = aio_at(e, "hosts");
	fprintf(stderr, "bench_pvaware:   %-12s", name);
	for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i), *sc = aio_at(h, "scores");

		json_object *fl = aio_at(h, "filters");

		fprintf(stderr, " | %s", host_letter(aio_str_at(h, "host")));
		for (size_t k = 0; fl && k < json_object_array_length(fl); k++) {
			json_object *x = json_object_array_get_idx(fl, k);

			if (!json_object_get_boolean(aio_at(x, "pass")))
				fprintf(stderr, " %s: %s", aio_str_at(x, "name"),
					aio_str_at(x, "reason"));
		}
		for (size_t k = 0; sc && k < json_object_array_length(sc); k++) {
			json_object *x = json_object_array_get_idx(sc, k);

			fprintf(stderr, " %s %.3f", aio_str_at(x, "name"),
				json_object_get_double(aio_at(x, "raw")));
		}
	}
	fprintf(stderr, " -> %s\n", host_letter(aio_str_at(e, "chosen")));
	json_object_put(e);
}

/* Creates mix[i] (on host a alone when solo) and waits until it has sent
 * REPORTS_SEEN agent reports, so its load is in what the scheduler reads. */
static int create(struct bench_ctl *c, size_t i, bool solo_run, int round, struct guest *out)
{
	const struct work *w = &mix[i];
	char body[640];
	uint64_t end = pvm_now_ns() + REPORT_WAIT_NS;
	json_object *g = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(body, sizeof(body),
		 "{\"name\":\"%s-%s-%d\",\"image\":\"%s\",\"vcpus\":1,\"memory_mib\":64,"
		 "\"disk_gib\":%d,\"cmdline\":\"%s\",\"pv\":%s%s}",
		 w->name, solo_run ? "solo" : "mix", round, w->image, w->disk_gib, w->cmdline,
		 w->pv, solo_run ? ",\"selector\":\"bench=a\"" : "");
	if (!solo_run)
		explain(c, w->name, body);
	ret = bench_ctl_call(c, "POST", "/v1/guests", body, 201, &g);
	if (ret < 0)
		return ret;
	snprintf(out->id, sizeof(out->id), "%s", aio_str_at(g, "id"));
	json_object_put(g);
	for (;;) {
		bool running;

		ret = get_guest(c, out->id, &g);
		if (ret < 0)
			return ret;
		snprintf(out->host, sizeof(out->host), "%s", aio_str_at(g, "host_id"));
		running = !strcmp(aio_str_at(g, "observed_state"), "running");
		if (int_at(g, "agent.report.report_no") >= REPORTS_SEEN &&
		    (i == PROBE || int_at(g, "agent.report.counters.work_units") > 0))
			break;
		json_object_put(g);
		if (pvm_now_ns() > end) {
			/* A guest its host runs but starves did no work: that is an
			 * outcome to count, not a failure of the run. */
			fprintf(stderr, "bench_pvaware: %s has not reported work after %llu s%s\n",
				w->name, REPORT_WAIT_NS / 1000000000ull,
				running ? "; going on" : "");
			return running ? 0 : -ETIMEDOUT;
		}
		pvm_sleep_ns(POLL_NS);
	}
	json_object_put(g);
	return 0;
}

/* Follows the guests' agent reports for ns by the benchmark's clock: each
 * guest's rate between the first and the last new report it saw. */
static int measure(struct bench_ctl *c, struct guest *gs, const size_t *which, size_t n,
		   uint64_t ns)
{
	uint64_t end = pvm_now_ns() + ns;

	for (size_t k = 0; k < n; k++)
		gs[which[k]].report_no = -1;
	while (pvm_now_ns() < end) {
		for (size_t k = 0; k < n; k++) {
			struct guest *g = &gs[which[k]];
			json_object *o;
			int64_t no, u;
			int ret = get_guest(c, g->id, &o);

			if (ret < 0)
				return ret;
			no = int_at(o, "agent.report.report_no");
			u = int_at(o, "agent.report.counters.work_units");
			if (no != g->report_no && u >= 0) {
				uint64_t now = pvm_now_ns();
				double v = vmm_units(&mix[which[k]], o);

				if (g->report_no < 0) {
					g->t0 = now;
					g->u0 = (uint64_t)u;
					g->v0 = v;
				}
				g->report_no = no;
				g->t1 = now;
				g->u1 = (uint64_t)u;
				g->v1 = v;
			}
			json_object_put(o);
		}
		pvm_sleep_ns(POLL_NS);
	}
	for (size_t k = 0; k < n; k++) {
		struct guest *g = &gs[which[k]];
		const struct work *w = &mix[which[k]];

		if (g->t1 <= g->t0) {
			/* no two reports in the window: starved, it did no work */
			fprintf(stderr, "bench_pvaware: %s sent no new report in the window\n",
				w->name);
			g->rate = 0;
			continue;
		}
		g->rate = (double)(g->u1 - g->u0) / ((double)(g->t1 - g->t0) / 1e9);
		if (w->vmm.hook) {
			double said = (double)(g->u1 - g->u0), seen = g->v1 - g->v0;

			/* the agent's counter and the VMM's are read by one host
			 * report but counted up to an agent interval apart, and the
			 * guest counts bytes still in its buffer and ring */
			if (fabs(seen - said) > 0.25 * said + SLACK_BYTES / w->vmm.bytes_per_unit) {
				fprintf(
				    stderr,
				    "bench_pvaware: %s claims %.0f units, its VMM counted %.0f\n",
				    w->name, said, seen);
				return -EPROTO;
			}
		}
	}
	return 0;
}

static int remove_guest(struct bench_ctl *c, const char *id)
{
	char path[128];
	uint64_t end = pvm_now_ns() + DEADLINE_NS;

	snprintf(path, sizeof(path), "/v1/guests/%.63s", id);
	if (bench_ctl_call(c, "DELETE", path, NULL, 204, NULL) < 0)
		return -EIO;
	/* gone from the controller once its host has stopped it */
	for (;;) {
		long st = 0;
		int ret = bench_ctl_status(c, path, &st);

		if (ret < 0 || st == 404)
			return ret;
		if (pvm_now_ns() > end)
			return -ETIMEDOUT;
		pvm_sleep_ns(POLL_NS);
	}
}

/* Waits until both hosts are ready and have measured their exit cost. */
static int hosts_ready(struct bench_ctl *c)
{
	uint64_t end = pvm_now_ns() + DEADLINE_NS;

	for (;;) {
		json_object *doc, *items;
		size_t ready = 0;
		int ret = bench_ctl_call(c, "GET", "/v1/hosts", NULL, 200, &doc);

		if (ret < 0)
			return ret;
		items = aio_at(doc, "items");
		for (size_t i = 0; items && i < json_object_array_length(items); i++) {
			json_object *h = json_object_array_get_idx(items, i);

			ready += !strcmp(aio_str_at(h, "state"), "ready") &&
				 aio_at(h, "capabilities.exit_cost_ns");
			for (int k = 0; k < HOSTS; k++)
				if (!strcmp(aio_str_at(h, "name"), host_names[k]))
					snprintf(host_ids[k], sizeof(host_ids[k]), "%s",
						 aio_str_at(h, "id"));
		}
		json_object_put(doc);
		if (ready == HOSTS)
			return 0;
		if (pvm_now_ns() > end) {
			fprintf(stderr, "bench_pvaware: the hosts did not get ready; see %s\n",
				top);
			return -ETIMEDOUT;
		}
		pvm_sleep_ns(POLL_NS);
	}
}

struct outcome {
	double work; /* sum of rate / solo rate */
	double p99_ns;
	int hosts_used;
};

/* The solo rates, one guest at a time on host a. */
static int calibrate(struct bench_ctl *c)
{
	struct guest g[NMIX];

	for (size_t i = 0; i < PROBE; i++) {
		int ret = create(c, i, true, 0, &g[i]);

		if (ret == 0)
			ret = measure(c, g, &i, 1, SOLO_NS);
		if (ret == 0)
			ret = remove_guest(c, g[i].id);
		if (ret < 0)
			return ret;
		solo[i] = g[i].rate;
		if (solo[i] <= 0) {
			fprintf(stderr, "bench_pvaware: %s did no work alone\n", mix[i].name);
			return -EIO;
		}
		fprintf(stderr, "bench_pvaware: alone on host a: %-12s %14.0f units/s\n",
			mix[i].name, solo[i]);
	}
	return 0;
}

static int place_mix(struct bench_ctl *c, int round, struct guest *g, struct outcome *out)
{
	size_t which[PROBE];
	uint64_t end;
	int ret;

	for (size_t i = 0; i < NMIX; i++) {
		ret = create(c, i, false, round, &g[i]);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < PROBE; i++)
		which[i] = i;
	ret = measure(c, g, which, PROBE, WINDOW_NS);
	if (ret < 0)
		return ret;
	out->work = 0;
	for (size_t i = 0; i < PROBE; i++)
		out->work += g[i].rate / solo[i];
	end = pvm_now_ns() + DEADLINE_NS;
	for (;;) {
		json_object *o;

		ret = get_guest(c, g[PROBE].id, &o);
		if (ret < 0)
			return ret;
		out->p99_ns = (double)int_at(o, "agent.report.counters.probe_p99_ns");
		json_object_put(o);
		if (out->p99_ns > 0)
			break;
		if (pvm_now_ns() > end)
			return -ETIMEDOUT;
		pvm_sleep_ns(POLL_NS);
	}
	out->hosts_used = 0;
	for (size_t i = 0; i < NMIX; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(g[i].host, g[j].host);
		out->hosts_used += !seen;
	}
	return 0;
}

/* The k-th CPU this process may run on, counting round the allowed ones
 * (taskset, cpuset); -1 (unpinned) when none can be read. */
static int allowed_cpu(int k)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !(n = CPU_COUNT(&set)))
		return -1;
	k %= n;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && k-- == 0)
			return cpu;
	return -1;
}

/* One policy's cluster: controller, host a (all hooks) and b (no console
 * or block hook), each host on its own CPU; calibrates first when asked. */
static int run_policy(const struct policy *p, int round, bool calib, struct outcome *out)
{
	static const char *const hooks[HOSTS] = {"all", "clock,agent,halt"};
	static const char *const labels[HOSTS] = {"{\"bench\":\"a\"}", "{\"bench\":\"b\"}"};
	const char *ctl_args[] = {"--heartbeat-s", "2", "--sched-policy", p->sched, NULL};
	char dir[128];
	struct guest g[NMIX];
	struct bench_ctl c;
	pid_t hosts[HOSTS] = {0};
	int ret;

	snprintf(dir, sizeof(dir), "%s/%s-%d", top, p->name, round);
	if (mkdir(dir, 0700) < 0)
		return -errno;
	ret = bench_ctl_start(&c, PVMD_BIN, dir, ctl_args);
	for (int h = 0; h < HOSTS && ret == 0; h++) {
		const char *args[] = {"--vmm",	     PVM_VMM,	"--image-dir",
				      PVM_GUEST_DIR, "--hooks", hooks[h],
				      "--labels",    labels[h], "--report-interval-ms",
				      "500",	     NULL};

		ret =
		    bench_host_start(&c, PVMD_BIN, host_names[h], allowed_cpu(h), args, &hosts[h]);
	}
	if (ret == 0)
		ret = hosts_ready(&c);
	if (ret == 0 && calib)
		ret = calibrate(&c);
	if (ret == 0)
		ret = place_mix(&c, round, g, out);
	if (ret == 0) {
		fprintf(stderr,
			"bench_pvaware: round %d %s: work %.3f, probe p99 %.0f us, %d hosts:",
			round + 1, p->name, out->work, out->p99_ns / 1e3, out->hosts_used);
		for (size_t i = 0; i < NMIX; i++)
			fprintf(stderr, " %s@%s", mix[i].name, host_letter(g[i].host));
		fprintf(stderr, "\n");
		for (size_t i = 0; i < PROBE; i++)
			fprintf(stderr, "bench_pvaware:   %-12s %5.3f of alone\n", mix[i].name,
				g[i].rate / solo[i]);
	}
	for (int h = 0; h < HOSTS; h++)
		bench_proc_stop(hosts[h]);
	bench_ctl_stop(&c);
	return ret;
}

int main(void)
{
	const char *env = getenv("BENCH_PVAWARE_ROUNDS");
	int rounds = env ? atoi(env) : ROUNDS_DEFAULT;
	double work[ROUNDS_MAX], p99[ROUNDS_MAX], used_a[ROUNDS_MAX], used_b[ROUNDS_MAX];
	char cmd[96];
	int ret = 0;

	if (rounds < 1 || rounds > ROUNDS_MAX) {
		fprintf(stderr, "bench_pvaware: BENCH_PVAWARE_ROUNDS is 1 to %d\n", ROUNDS_MAX);
		return 1;
	}
	if (allowed_cpu(0) == allowed_cpu(1))
		fprintf(stderr, "bench_pvaware: fewer CPUs than hosts: they share one\n");
	snprintf(top, sizeof(top), "/tmp/bench-pvaware-XXXXXX");
	if (!mkdtemp(top)) {
		perror("bench_pvaware: mkdtemp");
		return 1;
	}
	for (int r = 0; r < rounds && ret == 0; r++) {
		/* alternate which goes first, so neither always runs warmer */
		const struct policy *first = &policies[r % 2], *second = &policies[1 - r % 2];
		struct outcome a, b;

		ret = run_policy(first, r, r == 0, r % 2 ? &b : &a);
		if (ret == 0)
			ret = run_policy(second, r, false, r % 2 ? &a : &b);
		if (ret == 0) {
			work[r] = a.work / b.work;
			p99[r] = b.p99_ns / a.p99_ns;
			used_a[r] = a.hosts_used;
			used_b[r] = b.hosts_used;
		}
	}
	if (ret < 0) {
		fprintf(stderr, "bench_pvaware: failed (%s); logs in %s\n", strerror(-ret), top);
		return 1;
	}
	printf("METRIC pv_aware_work_ratio %.3f ratio\n", bench_median(work, (size_t)rounds));
	printf("METRIC pv_aware_p99_ratio %.3f ratio\n", bench_median(p99, (size_t)rounds));
	printf("METRIC pv_aware_hosts_used %.0f hosts\n", bench_median(used_a, (size_t)rounds));
	printf("METRIC pv_blind_hosts_used %.0f hosts\n", bench_median(used_b, (size_t)rounds));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_pvaware: could not remove %s\n", top);
	return 0;
}
