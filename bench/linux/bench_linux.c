/* SPDX-License-Identifier: MIT */
/*
 * The Linux guest image (packaging/guest-images/build-linux) from start to
 * the agent's hello on its virtio-serial port:
 *   qemu_bare_ready_s      qemu-system-x86_64 run directly (-kernel/-initrd)
 *   libvirt_linux_ready_s  the libvirt driver's define and start on a
 *                          libvirtd of its own (tests/libvirt/lv-server)
 *   libvirt_linux_overhead_vs_qemu  the ratio
 *   libvirt_linux_parallel_4_ready_s  4 such guests at once, to the last hello
 *   linux_guest_ready_s    POST /v1/guests (kind linux) on the all-in-one
 *                          pvmd to GET showing the agent's hello (rest.c)
 *   linux_overhead_vs_qemu the ratio to qemu_bare_ready_s
 *   linux_guests_parallel_ready_s  4 guests POSTed at once, to the last hello
 * The median of RUNS boots each, the same image, machine and sizes; TCG
 * unless the host has VMX/SVM KVM (driver_libvirt decides, the bare run asks
 * for the same accelerator).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "bench/common/bench.h"
#include "bench/linux/linux.h"
#include "common/common.h"
#include "daemon/driver.h"
#include "daemon/vmm.h"

#define RUNS	   3
#define MEMORY_MIB 256
#define PARALLEL   4
#define GIVE_UP_NS (300 * 1000000000ull)

static char dir[64];

static double secs_since(uint64_t t0)
{
	return (double)(pvm_now_ns() - t0) / 1e9;
}

/* Reads the agent's bytes on fd until its hello; 0, or -ETIMEDOUT. */
static int wait_hello(int fd, uint64_t give_up)
{
	struct agent_host *h = agent_host_new(NULL, pvm_now_ns());
	struct agent_hello hello;
	uint8_t buf[4096];
	int ret = -ETIMEDOUT;

	if (!h)
		return -ENOMEM;
	while (pvm_now_ns() < give_up) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		size_t n = agent_host_output(h, buf, sizeof(buf), pvm_now_ns());
		ssize_t r;

		if (n && send(fd, buf, n, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
			ret = -errno;
			break;
		}
		if (agent_host_hello(h, &hello) == 0) {
			ret = 0;
			break;
		}
		if (poll(&p, 1, 20) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r == 0) {
			ret = -ECONNRESET;
			break;
		}
		if (r > 0)
			agent_host_feed(h, buf, (size_t)r, pvm_now_ns());
	}
	agent_host_free(h);
	return ret;
}

/* One bare QEMU boot to the hello; seconds, or a negative errno. */
static double bare_boot(void)
{
	char sock[128], chardev[192], serial[160], kernel[PATH_MAX], initrd[PATH_MAX];
	uint64_t t0 = pvm_now_ns(), give_up = t0 + GIVE_UP_NS;
	double ret = -ETIMEDOUT;
	int fd = -1, status;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/bare.sock", dir);
	snprintf(chardev, sizeof(chardev), "socket,id=agent,path=%s,server=on,wait=off", sock);
	snprintf(serial, sizeof(serial), "file:%s/bare-console.log", dir);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", PVM_LINUX_IMAGE_DIR);
	snprintf(initrd, sizeof(initrd), "%s/initrd", PVM_LINUX_IMAGE_DIR);
	unlink(sock);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-accel",
		       pvmd_hardware_kvm() ? "kvm" : "tcg", "-m", "256", "-smp", "1", "-nodefaults",
		       "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append",
		       "console=ttyS0 panic=-1 quiet", "-serial", serial, "-device",
		       "virtio-serial-pci", "-chardev", chardev, "-device",
		       "virtserialport,chardev=agent,name=org.pvm.agent.0", (char *)NULL);
		_exit(127);
	}
	while (pvm_now_ns() < give_up && (fd = pvmd_unix_connect(sock)) < 0) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		pvm_sleep_ns(5000000);
	}
	if (fd >= 0 && wait_hello(fd, give_up) == 0)
		ret = secs_since(t0);
	if (fd >= 0)
		close(fd);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return ret;
}

/* n guests defined and started at once through the libvirt driver, to the
 * last one's agent hello (asked in turn: the others boot meanwhile);
 * seconds, or a negative errno. */
static double libvirt_boot(struct pvmd_driver *drv, int run, int n)
{
	char id[PARALLEL][64], name[PARALLEL][64];
	struct pvmd_guest_def def = {
	    .vcpus = 1,
	    .memory_mib = MEMORY_MIB,
	    .image = PVM_LINUX_IMAGE_DIR,
	    .cmdline = "quiet",
	    .state_dir = dir,
	};
	struct pvm_err err = {0};
	json_object *doc = NULL;
	double ret = 0;
	uint64_t t0 = pvm_now_ns(), give_up = t0 + GIVE_UP_NS;
	int started = 0;

	for (; started < n; started++) {
		snprintf(id[started], sizeof(id[started]), "b0b0b0b0b0b0b0b0b0b0b0b0b0b%02d%03d",
			 started, run);
		snprintf(name[started], sizeof(name[started]), "pvm-test-bench-%d-%d-%d",
			 (int)getpid(), run, started);
		def.id = id[started];
		def.name = name[started];
		if (drv->ops->define(drv->priv, &def, &err) < 0)
			break;
		if (drv->ops->start(drv->priv, def.id, &err) < 0) {
			started++;
			break;
		}
	}
	if (err.msg[0]) {
		fprintf(stderr, "bench_linux: %s\n", err.msg);
		ret = -EIO;
	}
	/* Where the time goes: libvirt's define and start, then the boot. */
	fprintf(stderr, "bench_linux: %d defined and started in %.2f s\n", started, secs_since(t0));
	for (int i = 0; i < started && ret == 0; i++) {
		for (;;) {
			memset(&err, 0, sizeof(err));
			if (drv->ops->agent(drv->priv, id[i], &doc, &err) == 0)
				break;
			if (pvm_now_ns() >= give_up) {
				ret = -ETIMEDOUT;
				break;
			}
			/* The op answers at once; its relay waits for the hello. */
			pvm_sleep_ns(20 * 1000000ull);
		}
		json_object_put(doc);
		doc = NULL;
	}
	if (ret == 0)
		ret = secs_since(t0);
	for (int i = 0; i < started; i++) {
		memset(&err, 0, sizeof(err));
		if (drv->ops->stop(drv->priv, id[i], 30000, &err) < 0 ||
		    drv->ops->undefine(drv->priv, id[i], &err) < 0)
			fprintf(stderr, "bench_linux: %s\n", err.msg);
	}
	return ret;
}

/* One way to boot the image: RUNS single boots (median), then PARALLEL at
 * once, printed under its metric names beside bare_s. */
struct phase {
	const char *what, *ready, *overhead, *parallel;
	double (*boot)(void *ctx, int run, int n); /* seconds, or a negative errno */
	void *ctx;
};

/* 0, or 1 when a figure is missing (it says why). */
static int measure(const struct phase *ph, double bare_s)
{
	double t[RUNS], median, par_s;

	for (int i = 0; i < RUNS; i++) {
		t[i] = ph->boot(ph->ctx, i, 1);
		if (t[i] < 0) {
			fprintf(stderr, "bench_linux: %s boot: %s\n", ph->what,
				strerror((int)-t[i]));
			return 1;
		}
		fprintf(stderr, "bench_linux: %s boot %d: %.2f s\n", ph->what, i + 1, t[i]);
	}
	median = bench_median(t, RUNS);
	printf("METRIC %s %.2f s\n", ph->ready, median);
	printf("METRIC %s %.2f ratio\n", ph->overhead, median / bare_s);
	fflush(stdout);
	par_s = ph->boot(ph->ctx, RUNS, PARALLEL);
	if (par_s < 0) {
		fprintf(stderr, "bench_linux: %d %s guests at once: %s\n", PARALLEL, ph->what,
			strerror((int)-par_s));
		return 1;
	}
	printf("METRIC %s %.2f s\n", ph->parallel, par_s);
	fflush(stdout);
	return 0;
}

static double driver_boot(void *drv, int run, int n)
{
	return libvirt_boot(drv, run, n);
}

static double rest_boot(void *ctx, int run, int n)
{
	(void)ctx;
	return bench_rest_boot(run, n);
}

static int run_cmd(const char *a, const char *b, const char *c)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' >&2", a, b, c ? c : "");
	return system(cmd) == 0 ? 0 : -EIO;
}

int main(void)
{
	double bare[RUNS], bare_s;
	char lvdir[PATH_MAX], uri_file[PATH_MAX + 8], uri[512] = "";
	struct pvmd_driver drv;
	struct pvm_err err = {0};
	FILE *f;
	int status = 0;

	if (run_cmd(PVM_BUILD_LINUX, PVM_LINUX_IMAGE_DIR, PVM_AGENT_BIN) < 0) {
		fprintf(stderr, "bench_linux: build-linux failed\n");
		return 1;
	}
	strcpy(dir, "/tmp/pvm-bench-linux-XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0) {
		perror("bench_linux: mkdtemp");
		return 1;
	}
	for (int i = 0; i < RUNS; i++) {
		bare[i] = bare_boot();
		if (bare[i] < 0) {
			fprintf(stderr, "bench_linux: bare QEMU boot: %s\n",
				strerror((int)-bare[i]));
			status = 1;
			goto out;
		}
		fprintf(stderr, "bench_linux: bare QEMU boot %d: %.2f s\n", i + 1, bare[i]);
	}
	bare_s = bench_median(bare, RUNS);
	printf("METRIC qemu_bare_ready_s %.2f s\n", bare_s);
	fflush(stdout);

	snprintf(lvdir, sizeof(lvdir), "%s/lv-bench", PVM_BENCH_DIR);
	snprintf(uri_file, sizeof(uri_file), "%s/uri", lvdir);
	if (run_cmd(PVM_LV_SERVER, "start", lvdir) < 0) {
		status = 1;
		goto out;
	}
	f = fopen(uri_file, "r");
	if (!f || !fgets(uri, sizeof(uri), f)) {
		/* lv-server said why (SKIP line) on stderr. */
		fprintf(stderr, "bench_linux: libvirt figures not measured: no libvirtd\n");
		if (f)
			fclose(f);
		goto stop;
	}
	fclose(f);
	uri[strcspn(uri, "\n")] = '\0';
	if (pvmd_driver_open("libvirt", uri, &drv, &err) < 0) {
		fprintf(stderr, "bench_linux: %s\n", err.msg);
		status = 1;
		goto stop;
	}
	status = measure(&(struct phase){"libvirt", "libvirt_linux_ready_s",
					 "libvirt_linux_overhead_vs_qemu",
					 "libvirt_linux_parallel_4_ready_s", driver_boot, &drv},
			 bare_s);
	pvmd_driver_close(&drv);
	if (status == 0 && bench_rest_open(uri) < 0)
		status = 1;
	if (status == 0) {
		status =
		    measure(&(struct phase){"REST", "linux_guest_ready_s", "linux_overhead_vs_qemu",
					    "linux_guests_parallel_ready_s", rest_boot, NULL},
			    bare_s);
		if (bench_rest_close() < 0)
			status = 1;
	}
stop:
	run_cmd(PVM_LV_SERVER, "stop", lvdir);
out:
	snprintf(lvdir, sizeof(lvdir), "rm -rf '%s'", dir);
	if (system(lvdir) != 0)
		status = 1;
	return status;
}
