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
 * The solo runs are also the simulator's workload profile (schedulers/sim.h):
 * each workload's rate, the host CPU time its VMM and guest processes took
 * (from /proc), and the exits and hook calls its VMM counted, per second of
 * the same window. It is printed on stderr and, when BENCH_PROFILE names a
 * file, written there (bench/run-all hands it to bench_sched; a copy from
 * the reference machine is schedulers/profiles/recorded.profile).
 *
 * BENCH_PVAWARE_ROUNDS sets the rounds (default 3).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/common/bench.h"
#include "bench/common/pvmd.h"
#include "common/common.h"
#include "hv/pv_abi.h"
#include "schedulers/sim.h"
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
	enum sched_sim_work work; /* its line of the profile; SCHED_SIM_WORKS: none */
	enum sched_sim_variant variant;
};

#define PV(h) "{\"hooks_preferred\":[\"" h "\"],\"abi_version\":1}"
#define EMU   "{\"needs_emulation\":true}"

/* The mix, in the order it is created; the probe comes last. */
#define W(w, v) SCHED_SIM_WORK_##w, SCHED_SIM_VAR_##v
static const struct work mix[] = {
    {"console-pv", "steady", "kind=console", PV("console"), 0, VMM_CONSOLE, W(CONSOLE, PV)},
    {"console-emu", "steady", "kind=console mode=emulated agent=on", EMU, 0, VMM_CONSOLE,
     W(CONSOLE, EMULATED)},
    {"block-pv", "steady", "kind=block", PV("block"), 1, VMM_BLOCK, W(BLOCK, PV)},
    {"compute-1", "steady", "kind=compute", "{}", 0, VMM_NONE, W(COMPUTE, EMULATED)},
    {"clock-pv", "steady", "kind=clock", PV("clock"), 0, VMM_NONE, W(CLOCK, PV)},
    {"block-emu", "steady", "kind=block mode=emulated agent=on", EMU, 1, VMM_BLOCK,
     W(BLOCK, EMULATED)},
    {"clock-emu", "steady", "kind=clock mode=emulated agent=on", EMU, 0, VMM_NONE,
     W(CLOCK, EMULATED)},
    {"probe", "probe", "ops=1000 gap_us=2000", PV("console"), 0, VMM_NONE, SCHED_SIM_WORKS,
     SCHED_SIM_VAR_PV},
};
#define NMIX  (sizeof(mix) / sizeof(mix[0]))
#define PROBE (NMIX - 1)

struct guest {
	char id[64];
	char host[64];
	/* first and last change of the agent's report seen in the window */
	uint64_t t0, t1, u0, u1;
	double v0, v1; /* the VMM's count, in units */
	/* the VMM's exits and hook calls; host CPU seconds of its processes
	 * (profiled runs only: < 0 otherwise) */
	double x0, x1, k0, k1, c0, c1;
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
static struct sched_sim_profile profile;
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

/* The VMM's exits, every reason: the report's "total" row, else the sum of
 * its reasons (as controller/rates.c reads them). */
static double exits_of(json_object *g)
{
	json_object *o = aio_at(g, "exits"), *total = aio_at(g, "exits.total");
	double sum = 0;

	if (total)
		return (double)json_object_get_int64(total);
	if (!o)
		return 0;
	json_object_object_foreach(o, key, v)
	{
		(void)key;
		sum += (double)json_object_get_int64(v);
	}
	return sum;
}

/* The hook calls the VMM served, every hook. */
static double calls_of(json_object *g)
{
	json_object *stats = aio_at(g, "hook_stats");
	double sum = 0;

	for (size_t i = 0; stats && i < json_object_array_length(stats); i++)
		sum += (double)int_at(json_object_array_get_idx(stats, i), "calls");
	return sum;
}

/* Whether /proc/pid/cmdline holds needle. */
static bool cmdline_has(const char *pid, const char *needle)
{
	char path[64], cmd[1024];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%.16s/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, needle) != NULL;
}

/* The user and system CPU seconds of process pid (/proc/pid/stat), and its
 * parent; -1 when it is gone. */
static double proc_cpu_s(const char *pid, long *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%.16s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the name in parentheses may hold anything: count fields after the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid, &ut,
			 &st) != 3)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Host CPU seconds the guest's VMM (the pvm-vmm serving guests/<id>.sock) and
 * its children (the guest process, on the process platform) have used; -1
 * when no VMM serves it. */
static double guest_cpu_s(const char *id)
{
	char needle[96];
	long vmm = -1, ppid;
	double sum = 0;
	struct dirent *e;
	DIR *d;

	snprintf(needle, sizeof(needle), "guests/%.63s.sock", id);
	for (int pass = 0; pass < 2; pass++) {
		d = opendir("/proc");
		if (!d)
			return -1;
		while ((e = readdir(d))) {
			double cpu;

			if (e->d_name[0] < '1' || e->d_name[0] > '9')
				continue;
			if (pass == 0) {
				if (cmdline_has(e->d_name, needle)) {
					vmm = atol(e->d_name);
					break;
				}
				continue;
			}
			cpu = proc_cpu_s(e->d_name, &ppid);
			if (cpu >= 0 && (atol(e->d_name) == vmm || ppid == vmm))
				sum += cpu;
		}
		closedir(d);
		if (vmm < 0)
			return -1;
	}
	return sum;
}

/* Follows the guests' agent reports for ns by the benchmark's clock: each
 * guest's rate between the first and the last new report it saw; when
 * profiled, also its exits, hook calls and host CPU at those two reports. */
static int measure(struct bench_ctl *c, struct guest *gs, const size_t *which, size_t n,
		   uint64_t ns, bool profiled)
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
				double x = exits_of(o), calls = calls_of(o);
				double cpu = profiled ? guest_cpu_s(g->id) : -1;

				if (g->report_no < 0) {
					g->t0 = now;
					g->u0 = (uint64_t)u;
					g->v0 = v;
					g->x0 = x;
					g->k0 = calls;
					g->c0 = cpu;
				}
				g->report_no = no;
				g->t1 = now;
				g->u1 = (uint64_t)u;
				g->v1 = v;
				g->x1 = x;
				g->k1 = calls;
				g->c1 = cpu;
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

/* mix[i]'s line of the profile, from its solo run g. */
static int profile_add(size_t i, const struct guest *g)
{
	struct sched_sim_figures *f = &profile.work[mix[i].work][mix[i].variant];
	double s = (double)(g->t1 - g->t0) / 1e9;

	if (g->c0 < 0 || g->c1 < g->c0) {
		fprintf(stderr, "bench_pvaware: no VMM process found for %s\n", mix[i].name);
		return -ESRCH;
	}
	*f = (struct sched_sim_figures){.known = true,
					.units_per_s = g->rate,
					.cpu_per_s = (g->c1 - g->c0) / s,
					.exits_per_s = (g->x1 - g->x0) / s,
					.hook_calls_per_s = (g->k1 - g->k0) / s};
	return 0;
}

/* Writes the profile to BENCH_PROFILE when it is set, and to stderr. */
static int profile_save(void)
{
	const char *path = getenv("BENCH_PROFILE");
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int ret;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%MZ", gmtime_r(&now, &tm));
	snprintf(profile.recorded, sizeof(profile.recorded),
		 "bench_pvaware %s, %ld CPUs online, each workload alone on one pinned CPU", when,
		 sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(stderr, "bench_pvaware: the workload profile:\n");
	sched_sim_profile_write(stderr, &profile);
	if (!path)
		return 0;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	ret = sched_sim_profile_write(f, &profile);
	if (fclose(f) && ret == 0)
		ret = -errno;
	return ret;
}

/* The solo rates, one guest at a time on host a, and the profile. */
static int calibrate(struct bench_ctl *c)
{
	struct guest g[NMIX];

	for (size_t i = 0; i < PROBE; i++) {
		json_object *o;
		int ret = create(c, i, true, 0, &g[i]);

		if (ret == 0)
			ret = measure(c, g, &i, 1, SOLO_NS, true);
		if (ret == 0 && !profile.platform[0] && get_guest(c, g[i].id, &o) == 0) {
			snprintf(profile.platform, sizeof(profile.platform), "%s",
				 aio_str_at(o, "platform"));
			json_object_put(o);
		}
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
		ret = profile_add(i, &g[i]);
		if (ret < 0)
			return ret;
	}
	return profile_save();
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
	ret = measure(c, g, which, PROBE, WINDOW_NS, false);
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
