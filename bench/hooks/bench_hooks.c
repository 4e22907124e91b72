// SPDX-License-Identifier: MIT
/*
 * bench_hooks: what the pv hooks buy, measured on the real pvm-vmm and KVM.
 * Every figure is a median over REPEATS runs; each ratio's two sides are
 * measured in the same run of this program, interleaved. Exit counts are the
 * difference between a run doing the work and one doing none, so set-up
 * exits (negotiation, power-off) cancel out. Work durations come from the
 * guest's own stopwatch (the clock page, which costs no exit), so VM set-up
 * time is not counted as work. Progress goes to stderr, METRIC lines to stdout.
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
#include <unistd.h>

#include <json-c/json.h>

#include "guest/compute_loop.h"

#define REPEATS 5

static char tmpdir[] = "/tmp/bench_hooks.XXXXXX";
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
			execl(PVM_VMM, PVM_VMM, "run", "--image", img, "--cmdline", cmdline,
			      "--mem", "64", "--disk", disk_path, "--stats-json", stats_path,
			      (char *)NULL);
		else
			execl(PVM_VMM, PVM_VMM, "run", "--image", img, "--cmdline", cmdline,
			      "--mem", "64", "--stats-json", stats_path, (char *)NULL);
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

/* Runs a guest to the end; returns its stats (caller puts). Exits on failure. */
static json_object *run(const char *image, const char *cmdline, bool disk, uint64_t *t0_out)
{
	uint64_t t0 = now_ns();
	pid_t pid = spawn(image, cmdline, disk, "/dev/null");
	int code = wait_pid(pid);
	json_object *o;

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

static void metric(const char *name, double v, const char *unit)
{
	printf("METRIC %s %.6g %s\n", name, v, unit);
	fflush(stdout);
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
		json_object *s = run("compute", cmd, false, NULL);

		g[i] = jget(s, "guest.work_ns");
		json_object_put(s);
		n[i] = native_compute_ns(iters);
	}
	double gm = median(g, REPEATS), nm = median(n, REPEATS);

	metric("compute_guest_ms", gm / 1e6, "ms");
	metric("compute_native_ms", nm / 1e6, "ms");
	metric("compute_native_ratio", gm / nm, "ratio");
}

/* ---- exit floor and hook service -------------------------------------- */

static void bench_floor(void)
{
	const int exits = 5000, bells = 2000;
	double e[REPEATS], h[REPEATS];
	char cmd[64];

	for (int i = 0; i < REPEATS; i++) {
		snprintf(cmd, sizeof(cmd), "mode=pv doorbells=0 exits=%d", exits);
		json_object *s = run("bare", cmd, false, NULL);

		e[i] = jget(s, "guest.work_ns") / exits;
		json_object_put(s);
		snprintf(cmd, sizeof(cmd), "mode=pv doorbells=%d", bells);
		s = run("bare", cmd, false, NULL);
		h[i] =
		    jget(s, "hooks.console.service_ns_total") / jget(s, "hooks.console.doorbells");
		json_object_put(s);
	}
	double em = median(e, REPEATS), hm = median(h, REPEATS);

	metric("exit_raw_ns", em, "ns");
	metric("hook_service_ns", hm, "ns");
	metric("hook_host_overhead_ratio", hm / em, "ratio");
}

/* ---- a workload in both modes ----------------------------------------- */

struct pair {
	const char *image;
	const char *work;  /* the sizes for the work run */
	const char *empty; /* the same with no work */
	bool disk;
	double units; /* KiB, MiB or thousands of reads done by `work` */
	const char *exits_name, *unit;
	const char *speedup_name;
	const char *wall_name;
};

static void bench_pair(const struct pair *p)
{
	double wall[2][REPEATS], exits[2] = {0, 0};
	static const char *const modes[2] = {"mode=emulated timer=page", "mode=pv"};
	char cmd[256], name[128];

	for (int i = 0; i < REPEATS; i++) {
		for (int m = 0; m < 2; m++) {
			snprintf(cmd, sizeof(cmd), "%s %s", modes[m], p->work);
			json_object *s = run(p->image, cmd, p->disk, NULL);

			wall[m][i] = jget(s, "guest.work_ns");
			if (i == 0) {
				double work = jget(s, "exits.total");

				json_object_put(s);
				snprintf(cmd, sizeof(cmd), "%s %s", modes[m], p->empty);
				s = run(p->image, cmd, p->disk, NULL);
				exits[m] = (work - jget(s, "exits.total")) / p->units;
			}
			json_object_put(s);
		}
		fprintf(stderr, "bench_hooks: %s run %d/%d\n", p->image, i + 1, REPEATS);
	}
	double we = median(wall[0], REPEATS), wp = median(wall[1], REPEATS);

	snprintf(name, sizeof(name), "%s_emulated", p->exits_name);
	metric(name, exits[0], p->unit);
	snprintf(name, sizeof(name), "%s_pv", p->exits_name);
	metric(name, exits[1], p->unit);
	snprintf(name, sizeof(name), "%s_emulated_ms", p->wall_name);
	metric(name, we / 1e6, "ms");
	snprintf(name, sizeof(name), "%s_pv_ms", p->wall_name);
	metric(name, wp / 1e6, "ms");
	metric(p->speedup_name, we / wp, "ratio");
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
static double rss_overhead_kib(pid_t pid)
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

int main(void)
{
	static const struct pair pairs[] = {
	    {"console", "bytes=65536", "bytes=0", false, 64, "console_exits_per_kib", "exits/KiB",
	     "console_pv_speedup", "console_64kib"},
	    /* 256 KiB written and read back: 0.5 MiB moved */
	    {"block", "kib=256", "kib=0", true, 0.5, "block_exits_per_mib", "exits/MiB",
	     "block_pv_speedup", "block_512kib_moved"},
	    {"clock", "reads=2000", "reads=1000", false, 1, "clock_exits_per_1k_reads",
	     "exits/1k-reads", "clock_pv_speedup", "clock_1k_reads"},
	};
	int fd;

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		fprintf(stderr, "bench_hooks: SKIP: no usable /dev/kvm\n");
		return 0;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(stats_path, sizeof(stats_path), "%s/stats.json", tmpdir);
	snprintf(disk_path, sizeof(disk_path), "%s/disk.img", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/console.out", tmpdir);
	fd = open(disk_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
		perror("disk");
		return 1;
	}
	close(fd);
	fprintf(stderr, "bench_hooks: compute\n");
	bench_compute();
	fprintf(stderr, "bench_hooks: exit floor and hook service\n");
	bench_floor();
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		bench_pair(&pairs[i]);
	fprintf(stderr, "bench_hooks: boot and memory\n");
	bench_boot();
	bench_rss();
	unlink(stats_path);
	unlink(disk_path);
	unlink(out_path);
	rmdir(tmpdir);
	return 0;
}
