// SPDX-License-Identifier: MIT
/*
 * bench_hooks: what the pv hooks buy, measured on the real pvm-vmm, once per
 * platform the machine has (process always, kvm where /dev/kvm works); every
 * figure's name starts with its platform. Every figure is a median over
 * REPEATS runs; each ratio's two sides are measured in the same run of this
 * program, interleaved. Exit counts and per-operation times are differences
 * between a run doing the work and one doing none, so set-up (VM creation,
 * negotiation, power-off) cancels out; times are this program's
 * CLOCK_MONOTONIC around whole VMM runs, each timed side >= 100 ms. The
 * guest's own stopwatch (the clock page) is reported beside them as *_guest
 * figures where it helps to see the VMM's start-up apart. Progress goes to
 * stderr, METRIC lines to stdout; a figure that cannot be measured is an
 * error, never a missing line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <json-c/json.h>

#include "guest/compute_loop.h"
#include "hv/hv.h"

#define REPEATS 5

static char tmpdir[] = "/tmp/bench_hooks.XXXXXX";
static const char *plat = "process"; /* the platform being measured */
static char stats_path[4096], disk_path[4096], out_path[4096];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static pid_t spawn(const char *image, const char *cmdline, bool disk, const char *out)
{
	char img[4096];
	pid_t pid;

	snprintf(img, sizeof(img), "%s/guest-%s", PVM_GUEST_DIR, image);
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		if (disk)
			execl(PVM_VMM, PVM_VMM, "run", "--platform", plat, "--image", img,
			      "--cmdline", cmdline, "--mem", "64", "--disk", disk_path,
			      "--stats-json", stats_path, (char *)NULL);
		else
			execl(PVM_VMM, PVM_VMM, "run", "--platform", plat, "--image", img,
			      "--cmdline", cmdline, "--mem", "64", "--stats-json", stats_path,
			      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int wait_pid(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double jget(json_object *o, const char *path)
{
	char key[128];
	const char *p = path;

	while (o && *p) {
		size_t n = strcspn(p, ".");
		json_object *next;

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (!json_object_object_get_ex(o, key, &next)) {
			fprintf(stderr, "bench_hooks: stats lack %s\n", path);
			exit(1);
		}
		o = next;
		p += n + (p[n] == '.');
	}
	return json_object_get_double(o);
}

/* Runs a guest to the end; returns its stats (caller puts) and, in *wall_ns
 * when asked, how long the whole run took. Exits on failure. */
static json_object *run_timed(const char *image, const char *cmdline, bool disk, uint64_t *t0_out,
			      double *wall_ns)
{
	uint64_t t0 = now_ns();
	pid_t pid = spawn(image, cmdline, disk, "/dev/null");
	int code = wait_pid(pid);
	json_object *o;

	if (wall_ns)
		*wall_ns = (double)(now_ns() - t0);
	if (code != 0) {
		fprintf(stderr, "bench_hooks: guest %s '%s' exited %d\n", image, cmdline, code);
		exit(1);
	}
	o = json_object_from_file(stats_path);
	if (!o) {
		fprintf(stderr, "bench_hooks: no stats from %s\n", image);
		exit(1);
	}
	if (t0_out)
		*t0_out = t0;
	return o;
}

static json_object *run(const char *image, const char *cmdline, bool disk, uint64_t *t0_out)
{
	return run_timed(image, cmdline, disk, t0_out, NULL);
}

/* Host wall time per unit of work: (run with work - run without) / units. */
static double wall_per(const char *image, const char *work, const char *empty, double units)
{
	double w, e;

	json_object_put(run_timed(image, work, false, NULL, &w));
	json_object_put(run_timed(image, empty, false, NULL, &e));
	return (w - e) / units;
}

/* A figure of the platform being measured: "<platform>_<name>". */
static void metric(const char *name, double v, const char *unit)
{
	printf("METRIC %s_%s %.6g %s\n", plat, name, v, unit);
	fflush(stdout);
}

/* A figure of the host itself, no platform in its name. */
static void host_metric(const char *name, double v, const char *unit)
{
	printf("METRIC %s %.6g %s\n", name, v, unit);
	fflush(stdout);
}

/* ---- the floor of a trap-based design --------------------------------- */

static void skip_out(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RIP] += 1; /* `out %eax, %dx` is one byte */
}

/*
 * A plain process executing `out` (SIGSEGV), its handler stepping over it
 * and returning: what any design that traps guest instructions in a host
 * process pays per exit before doing anything.
 */
static double signal_roundtrip_ns(void)
{
	struct sigaction sa = {.sa_sigaction = skip_out, .sa_flags = SA_SIGINFO}, old;
	const int n = 10000;
	double r[REPEATS];

	sigaction(SIGSEGV, &sa, &old);
	for (int i = 0; i < REPEATS; i++) {
		uint64_t t0 = now_ns();

		for (int k = 0; k < n; k++)
			__asm__ volatile("out %%eax, %%dx" : : "a"(0), "d"(0x510));
		r[i] = (double)(now_ns() - t0) / n;
	}
	sigaction(SIGSEGV, &old, NULL);
	return median(r, REPEATS);
}

/* ---- compute ---------------------------------------------------------- */

static double native_compute_ns(uint64_t iters)
{
	uint64_t x = GUEST_COMPUTE_SEED, r = 0, t0 = now_ns();

	for (uint64_t done = 0; done < iters; done += GUEST_COMPUTE_CHUNK) {
		uint64_t n =
		    iters - done < GUEST_COMPUTE_CHUNK ? iters - done : GUEST_COMPUTE_CHUNK;

		r += guest_compute_loop(&x, n);
	}
	__asm__ volatile("" : : "r"(r));
	return (double)(now_ns() - t0);
}

static void bench_compute(void)
{
	const uint64_t iters = 100000000;
	double g[REPEATS], n[REPEATS];
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "mode=pv iters=%llu", (unsigned long long)iters);
	for (int i = 0; i < REPEATS; i++) {
		g[i] = wall_per("compute", cmd, "mode=pv iters=0", 1);
		n[i] = native_compute_ns(iters);
	}
	double gm = median(g, REPEATS), nm = median(n, REPEATS);

	metric("compute_guest_ms", gm / 1e6, "ms");
	metric("compute_native_ms", nm / 1e6, "ms");
	metric("compute_native_ratio", gm / nm, "ratio");
}

/* ---- exit floor and hook service -------------------------------------- */

/*
 * The exit floor (a write to a port nobody serves), a pv round trip (one
 * 64-byte console descriptor rung alone until the guest sees it done) and,
 * for the process platform, the guest-side cost of an asynchronous doorbell
 * (rung, not waited for), each against the signal floor measured here too.
 */
static void bench_floor(double signal_ns)
{
	const int exits = 10000, trips = 10000, bells = 100000;
	double e[REPEATS], h[REPEATS], d[REPEATS];
	char cmd[96];

	for (int i = 0; i < REPEATS; i++) {
		snprintf(cmd, sizeof(cmd), "mode=pv doorbells=0 exits=%d", exits);
		e[i] = wall_per("bare", cmd, "mode=pv doorbells=0", exits);
		snprintf(cmd, sizeof(cmd), "mode=pv doorbells=0 roundtrips=%d", trips);
		h[i] = wall_per("bare", cmd, "mode=pv doorbells=0", trips);
		snprintf(cmd, sizeof(cmd), "mode=pv doorbells=0 notifies=%d", bells);
		d[i] = wall_per("bare", cmd, "mode=pv doorbells=0", bells);
	}
	double em = median(e, REPEATS), hm = median(h, REPEATS), dm = median(d, REPEATS);

	metric("exit_raw_ns", em, "ns");
	metric("hook_roundtrip_ns", hm, "ns");
	metric("hook_roundtrip_over_exit", hm / em, "ratio");
	metric("doorbell_ns", dm, "ns");
	metric("exit_over_signal", em / signal_ns, "ratio");
	metric("doorbell_over_signal", dm / signal_ns, "ratio");
}

/* ---- a workload in both modes ----------------------------------------- */

/*
 * Each mode does as much work as makes its timed side >= 100 ms here (the
 * pv side moves far more); figures are per unit of work, so the two compare.
 */
struct pair {
	const char *image;
	const char *work[2]; /* emulated, pv */
	double units[2];     /* KiB, MiB or thousands of reads done by work[m] */
	const char *empty;   /* the same with no work */
	bool disk;
	const char *exits_name, *unit;
	const char *speedup_name;
	const char *time_name, *time_unit; /* per unit, host wall clock */
	double time_div;		   /* ns per time_unit's time */
};

static void bench_pair(const struct pair *p)
{
	double t[2][REPEATS], exits[2] = {0, 0};
	static const char *const modes[2] = {"mode=emulated timer=page", "mode=pv"};
	char cmd[256], name[128];

	for (int i = 0; i < REPEATS; i++) {
		for (int m = 0; m < 2; m++) {
			double w, e, work;
			json_object *s;

			snprintf(cmd, sizeof(cmd), "%s %s", modes[m], p->work[m]);
			s = run_timed(p->image, cmd, p->disk, NULL, &w);
			work = jget(s, "exits.total");
			json_object_put(s);
			snprintf(cmd, sizeof(cmd), "%s %s", modes[m], p->empty);
			s = run_timed(p->image, cmd, p->disk, NULL, &e);
			if (i == 0)
				exits[m] = (work - jget(s, "exits.total")) / p->units[m];
			json_object_put(s);
			t[m][i] = (w - e) / p->units[m];
		}
		fprintf(stderr, "bench_hooks: %s: %s run %d/%d\n", plat, p->image, i + 1, REPEATS);
	}
	double te = median(t[0], REPEATS), tp = median(t[1], REPEATS);

	snprintf(name, sizeof(name), "%s_emulated", p->exits_name);
	metric(name, exits[0], p->unit);
	snprintf(name, sizeof(name), "%s_pv", p->exits_name);
	metric(name, exits[1], p->unit);
	snprintf(name, sizeof(name), "%s_emulated", p->time_name);
	metric(name, te / p->time_div, p->time_unit);
	snprintf(name, sizeof(name), "%s_pv", p->time_name);
	metric(name, tp / p->time_div, p->time_unit);
	/* the pv side is a difference of two runs: never a ratio over noise */
	if (tp <= 0) {
		fprintf(stderr, "bench_hooks: %s: %s pv side not measurable (%.3g ns)\n", plat,
			p->image, tp);
		exit(1);
	}
	metric(p->speedup_name, te / tp, "ratio");
}

/* ---- boot and memory -------------------------------------------------- */

static void bench_boot(void)
{
	double b[REPEATS];

	for (int i = 0; i < REPEATS; i++) {
		uint64_t t0;
		json_object *s = run("bare", "mode=pv doorbells=1", false, &t0);

		b[i] = (jget(s, "first_doorbell_mono_ns") - (double)t0) / 1e6;
		json_object_put(s);
	}
	metric("boot_to_guest_ms", median(b, REPEATS), "ms");
}

/* fork, exec and wait of /bin/true: what any VMM start pays on this host before its own work */
static void bench_exec_floor(void)
{
	double b[REPEATS];

	for (int i = 0; i < REPEATS; i++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (wait_pid(pid) != 0) {
			fprintf(stderr, "bench_hooks: /bin/true failed\n");
			exit(1);
		}
		b[i] = (double)(now_ns() - t0) / 1e6;
	}
	host_metric("exec_true_ms", median(b, REPEATS), "ms");
}

static bool file_has(const char *path, const char *what)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, what) != NULL;
}

/* VmRSS minus what is resident of the guest's RAM mapping (64 MiB). */
static double rss_one_kib(pid_t pid)
{
	char path[64], line[512];
	double rss = -1, guest = 0;
	bool in_guest = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lf", &rss) == 1)
			break;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		double v;

		if (sscanf(line, "Size: %lf kB", &v) == 1)
			in_guest = v == 64 * 1024;
		else if (in_guest && sscanf(line, "Rss: %lf kB", &v) == 1)
			guest += v;
	}
	if (f)
		fclose(f);
	return rss - guest;
}

/* The VMM's overhead and its children's (the process platform's guest process). */
static double rss_overhead_kib(pid_t pid)
{
	char path[64];
	double kib = rss_one_kib(pid);
	FILE *f;
	int child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &child) == 1)
		kib += rss_one_kib(child);
	if (f)
		fclose(f);
	return kib;
}

static void bench_rss(void)
{
	double r[REPEATS];

	for (int i = 0; i < REPEATS; i++) {
		pid_t pid;
		int code;

		/* no stale "idle: up" from the previous run */
		unlink(out_path);
		pid = spawn("idle", "mode=pv", false, out_path);

		for (int t = 0; t < 1000 && !file_has(out_path, "idle: up"); t++)
			usleep(5000);
		r[i] = rss_overhead_kib(pid);
		kill(pid, SIGTERM);
		code = wait_pid(pid);
		if (code != 0) {
			fprintf(stderr, "bench_hooks: idle guest did not stop cleanly (%d)\n",
				code);
			exit(1);
		}
	}
	metric("vmm_rss_overhead_kib", median(r, REPEATS), "KiB");
}

static void bench_platform(const char *p, double signal_ns)
{
	static const struct pair pairs[] = {
	    {"console",
	     {"bytes=16384", "bytes=33554432"},
	     {16, 32768},
	     "bytes=0",
	     false,
	     "console_exits_per_kib",
	     "exits/KiB",
	     "console_pv_speedup",
	     "console_us_per_kib",
	     "us/KiB",
	     1e3},
	    /* kib=K written and read back: 2K KiB moved */
	    {"block",
	     {"kib=256", "kib=16384"},
	     {0.5, 32},
	     "kib=0",
	     true,
	     "block_exits_per_mib",
	     "exits/MiB",
	     "block_pv_speedup",
	     "block_us_per_mib",
	     "us/MiB",
	     1e3},
	    {"clock",
	     {"reads=3001", "reads=5000001"},
	     {3000, 5000000},
	     "reads=1",
	     false,
	     "clock_exits_per_read",
	     "exits/read",
	     "clock_read_emulated_over_pv",
	     "clock_read_ns",
	     "ns",
	     1},
	};

	plat = p;
	fprintf(stderr, "bench_hooks: %s: compute\n", plat);
	bench_compute();
	fprintf(stderr, "bench_hooks: %s: exit floor, round trips and doorbells\n", plat);
	bench_floor(signal_ns);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		bench_pair(&pairs[i]);
	fprintf(stderr, "bench_hooks: %s: boot and memory\n", plat);
	bench_boot();
	bench_rss();
}

int main(void)
{
	double signal_ns;
	int fd;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(stats_path, sizeof(stats_path), "%s/stats.json", tmpdir);
	snprintf(disk_path, sizeof(disk_path), "%s/disk.img", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/console.out", tmpdir);
	fd = open(disk_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 64 << 20) < 0) {
		perror("disk");
		return 1;
	}
	close(fd);
	signal_ns = signal_roundtrip_ns();
	host_metric("signal_roundtrip_ns", signal_ns, "ns");
	bench_exec_floor();
	/* the process platform runs everywhere: its figures are never missing */
	bench_platform("process", signal_ns);
	if (hv_platform_probe() == HV_PLATFORM_KVM)
		bench_platform("kvm", signal_ns);
	else
		fprintf(stderr, "bench_hooks: no usable /dev/kvm: kvm_* figures not measured\n");
	unlink(stats_path);
	unlink(disk_path);
	unlink(out_path);
	rmdir(tmpdir);
	return 0;
}
