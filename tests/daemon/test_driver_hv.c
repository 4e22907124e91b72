/* SPDX-License-Identifier: MIT */
/*
 * The hv driver and its process plumbing on real processes: spawning with
 * its own process group, no_new_privs and the seccomp deny list; and real
 * pvm-vmm processes running the idle microguest on each platform (PVM_PLATFORM,
 * tests/platform.h): lifecycle, bad input, a crash, re-adoption after the
 * process that started the VMM is SIGKILLed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "daemon/driver.h"
#include "daemon/vmm.h"
#include "tests/platform.h"

static char dir[PATH_MAX];
static char uri[PATH_MAX * 2];
static char idle_image[PATH_MAX];
static struct pvm_err err;

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvmd-hv-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(uri, sizeof(uri), "%s?vmm=%s", dir, PVM_VMM);
	snprintf(idle_image, sizeof(idle_image), "%s/guest-idle", PVM_GUEST_DIR);
	memset(&err, 0, sizeof(err));
}

/* Runs in the parent after each test, failed or not: no VMM outlives its test. */
static void remove_dir(void)
{
	char cmd[PATH_MAX * 2];

	snprintf(cmd, sizeof(cmd), "pkill -KILL -f -- '[-]-api-sock %s/'; sleep 0.1", dir);
	ck_assert_int_ne(system(cmd), -1);
	pvmd_cgroup_remove("g-idle-1");
	pvmd_cgroup_remove("g-notelf");
	pvmd_cgroup_remove("g-own");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Waits for a line in a file (a child's output), up to 10 s. */
static bool wait_for_text(const char *path, const char *text)
{
	for (int i = 0; i < 1000; i++) {
		char *s = slurp(path);

		if (s && strstr(s, text))
			return true;
		pvm_sleep_ns(10 * 1000 * 1000);
	}
	return false;
}

static pid_t spawn_sh(const char *script, const char *log, const struct pvmd_seccomp *sc)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	struct pvmd_spawn sp = {.argv = argv, .log_path = log, .seccomp = sc};
	pid_t pid = 0;

	ck_assert_msg(pvmd_spawn(&sp, &pid, &err) == 0, "%s", err.msg);
	return pid;
}

START_TEST(test_spawn_confined)
{
	struct pvmd_seccomp *sc = NULL;
	char log[PATH_MAX + 16], path[64];
	const char *status;
	uint64_t start;
	int st;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/sh.log", dir);
	ck_assert_msg(pvmd_seccomp_build(&sc, &err) == 0, "%s", err.msg);
	/* Blocked stop signals of the parent must not reach the VMM's mask. */
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pid = spawn_sh("unshare -m true; echo unshare=$?; echo ready; exec sleep 30", log, sc);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	ck_assert(wait_for_text(log, "ready"));
	/* The unshare syscall is denied: root could otherwise make a namespace. */
	ck_assert_ptr_null(strstr(slurp(log), "unshare=0"));
	ck_assert_ptr_nonnull(strstr(slurp(log), "unshare="));
	ck_assert_int_eq(getpgid(pid), pid);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = slurp(path);
	ck_assert_ptr_nonnull(strstr(status, "NoNewPrivs:\t1"));
	ck_assert_ptr_nonnull(strstr(status, "Seccomp:\t2"));
	ck_assert_ptr_nonnull(strstr(status, "SigBlk:\t0000000000000000"));
	start = pvmd_proc_starttime(pid);
	ck_assert_uint_ne(start, 0);
	ck_assert(pvmd_proc_alive(pid, start, &st));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	for (int i = 0; i < 500 && pvmd_proc_alive(pid, start, &st); i++)
		pvm_sleep_ns(10 * 1000 * 1000);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	ck_assert(!pvmd_proc_alive(pid, start, &st));
	pvmd_seccomp_free(sc);
}
END_TEST

START_TEST(test_spawn_errors)
{
	char *argv[] = {"/nonexistent/pvm-vmm", NULL};
	struct pvmd_spawn sp = {.argv = argv};
	char log[PATH_MAX + 16];
	pid_t pid = 0;

	snprintf(log, sizeof(log), "%s/x.log", dir);
	sp.log_path = log;
	ck_assert_int_eq(pvmd_spawn(&sp, &pid, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "exec"));
	sp.log_path = "/nonexistent/dir/x.log";
	ck_assert_int_eq(pvmd_spawn(&sp, &pid, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "console log"));
	sp.log_path = log;
	sp.cgroup = "/nonexistent/cgroup";
	ck_assert_int_lt(pvmd_spawn(&sp, &pid, &err), 0);
	ck_assert_int_eq(pvmd_proc_starttime(0), 0);
}
END_TEST

START_TEST(test_open_errors)
{
	struct pvmd_driver drv;
	char bad[PATH_MAX * 2];

	ck_assert_int_eq(pvmd_driver_open("hv", NULL, &drv, &err), -EINVAL);
	ck_assert_int_eq(pvmd_driver_open("hv", "", &drv, &err), -EINVAL);
	snprintf(bad, sizeof(bad), "%s?vmm=/nonexistent/pvm-vmm", dir);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -ENOENT);
	snprintf(bad, sizeof(bad), "%s?vmm=%s&colour=blue", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "colour"));
	snprintf(bad, sizeof(bad), "%s?vmm=%s&hooks=console;rm", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	snprintf(bad, sizeof(bad), "%s?vmm=%s&hooks=console,teleport", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	snprintf(bad, sizeof(bad), "%s?vmm=%s&hooks=", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	snprintf(bad, sizeof(bad), "%s?vmm=%s&seccomp=maybe", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	snprintf(bad, sizeof(bad), "%s?vmm=%s&platform=xen", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", bad, &drv, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "platform=xen"));
	snprintf(bad, sizeof(bad), "hv://%s?vmm=%s&hooks=console,agent&seccomp=off&cgroup=off", dir,
		 PVM_VMM);
	ck_assert_msg(pvmd_driver_open("hv", bad, &drv, &err) == 0, "%s", err.msg);
	pvmd_driver_close(&drv);
	ck_assert_int_eq(pvmd_driver_open("xen", dir, &drv, &err), -ENOENT);
}
END_TEST

/* A state folder someone else may write to, or owns, is refused; fixed, it
 * opens. */
START_TEST(test_state_dir_ownership)
{
	struct pvmd_driver d;
	char guests[PATH_MAX + 16];

	snprintf(guests, sizeof(guests), "%s/guests", dir);
	ck_assert_int_eq(mkdir(guests, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(pvmd_driver_open("hv", uri, &d, &err), -EPERM);
	ck_assert_msg(strstr(err.msg, "writable by others") != NULL, "%s", err.msg);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(chmod(guests, 0777), 0);
	ck_assert_int_eq(pvmd_driver_open("hv", uri, &d, &err), -EPERM);
	ck_assert_int_eq(chmod(guests, 0700), 0);
	if (geteuid() == 0) {
		/* root can make it someone else's: nobody's */
		ck_assert_int_eq(chown(guests, 65534, 65534), 0);
		ck_assert_int_eq(pvmd_driver_open("hv", uri, &d, &err), -EPERM);
		ck_assert_msg(strstr(err.msg, "belongs to uid 65534") != NULL, "%s", err.msg);
		ck_assert_int_eq(chown(guests, 0, 0), 0);
	}
	ck_assert_msg(pvmd_driver_open("hv", uri, &d, &err) == 0, "%s", err.msg);
	pvmd_driver_close(&d);
}
END_TEST

static struct pvmd_driver drv;

static void open_hv(void)
{
	memset(&drv, 0, sizeof(drv));
	ck_assert_msg(pvmd_driver_open("hv", uri, &drv, &err) == 0, "%s", err.msg);
}

static enum pvmd_guest_state state_of(const char *id)
{
	enum pvmd_guest_state st = PVMD_GUEST_UNKNOWN;

	ck_assert_msg(drv.ops->state(drv.priv, id, &st, &err) == 0, "%s", err.msg);
	return st;
}

static int64_t pid_of(const char *id)
{
	json_object *stats = NULL, *v;
	int64_t pid;

	ck_assert_msg(drv.ops->stats(drv.priv, id, &stats, &err) == 0, "%s", err.msg);
	ck_assert(json_object_object_get_ex(stats, "pid", &v));
	pid = json_object_get_int64(v);
	json_object_put(stats);
	return pid;
}

/* How many processes run with this control socket on their command line. */
/* The parent of pid, from /proc (0 when it is gone). */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	pid_t ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* after "(comm)", which may hold spaces: " S ppid" */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %d", &ppid);
	fclose(f);
	return ppid;
}

/*
 * VMMs running for guest id under this test's folder: processes whose
 * command line names its socket, less those whose parent is one of them
 * (on the process platform a VMM's guest process is forked from it and
 * carries its command line until it execs).
 */
static int vmms_with(const char *id)
{
	char cmd[PATH_MAX * 2];
	pid_t pids[64];
	int n = 0, vmms = 0;
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "pgrep -f -- '[-]-api-sock %s/guests/%s.sock'", dir, id);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	while (n < 64 && fscanf(fp, "%d", &pids[n]) == 1)
		n++;
	pclose(fp);
	for (int i = 0; i < n; i++) {
		pid_t ppid = parent_of(pids[i]);
		bool child = false;

		for (int k = 0; k < n; k++)
			child = child || (ppid && pids[k] == ppid);
		vmms += !child;
	}
	return vmms;
}

#define IDLE_ID "g-idle-1"

static const struct pvmd_guest_def idle_def = {
    .id = IDLE_ID,
    .name = "idle-1",
    .vcpus = 1,
    .memory_mib = 16,
    .cmdline = "mode=pv",
};

static void define_idle(const char *id)
{
	struct pvmd_guest_def def = idle_def;

	def.id = id;
	def.image = idle_image;
	ck_assert_msg(drv.ops->define(drv.priv, &def, &err) == 0, "%s", err.msg);
}

START_TEST(test_lifecycle)
{
	struct pvmd_guest_info *infos = NULL;
	json_object *stats = NULL, *hooks;
	size_t n = 0;
	int64_t pid;
	char log[PATH_MAX + 64];

	open_hv();
	define_idle(IDLE_ID);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_DEFINED);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_RUNNING);
	pid = pid_of(IDLE_ID);
	/* starting a running guest is a no-op */
	ck_assert_int_eq(drv.ops->start(drv.priv, IDLE_ID, &err), 0);
	ck_assert_int_eq(pid_of(IDLE_ID), pid);
	ck_assert_int_eq(vmms_with(IDLE_ID), 1);
	/* the VMM runs confined, in its own process group */
	snprintf(log, sizeof(log), "/proc/%d/status", (int)pid);
	ck_assert_ptr_nonnull(strstr(slurp(log), "Seccomp:\t2"));
	ck_assert_ptr_nonnull(strstr(slurp(log), "NoNewPrivs:\t1"));
	ck_assert_int_eq(getpgid((pid_t)pid), (pid_t)pid);
	/* where cgroup v2 is mounted, the VMM runs in its own cgroup */
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ||
	    access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0) {
		snprintf(log, sizeof(log), "/proc/%d/cgroup", (int)pid);
		ck_assert_ptr_nonnull(strstr(slurp(log), "0::/pvm/" IDLE_ID "\n"));
	}
	ck_assert_int_eq(drv.ops->stats(drv.priv, IDLE_ID, &stats, &err), 0);
	ck_assert(json_object_object_get_ex(stats, "hooks", &hooks));
	ck_assert(json_object_object_get_ex(hooks, "console", NULL));
	json_object_put(stats);
	ck_assert_int_eq(drv.ops->list(drv.priv, &infos, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(infos[0].id, IDLE_ID);
	ck_assert_int_eq(infos[0].state, PVMD_GUEST_RUNNING);
	free(infos);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, IDLE_ID, &err), -EBUSY);
	ck_assert_msg(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_DEFINED);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
	/* the guest saw the graceful stop: the console log says so */
	snprintf(log, sizeof(log), "%s/guests/%s.log", dir, IDLE_ID);
	ck_assert_ptr_nonnull(strstr(slurp(log), "idle: stopping on request"));
	/* an ended VMM's final statistics come from what it wrote at exit */
	ck_assert_msg(drv.ops->stats(drv.priv, IDLE_ID, &stats, &err) == 0, "%s", err.msg);
	/* stopped on request: defined again, to be started when wanted */
	ck_assert_str_eq(json_object_get_string(json_object_object_get(stats, "state")), "defined");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(stats, "exit_code")), 0);
	ck_assert(json_object_object_get_ex(stats, "exits", &hooks));
	ck_assert_int_gt(json_object_get_int64(json_object_object_get(hooks, "total")), 0);
	ck_assert(!json_object_object_get_ex(stats, "pid", NULL));
	json_object_put(stats);
	stats = NULL;
	/* stopping a stopped guest is a no-op; it starts again */
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 1000, &err), 0);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_int_ne(pid_of(IDLE_ID), pid);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, IDLE_ID, &err), 0);
	ck_assert_int_eq(drv.ops->state(drv.priv, IDLE_ID, &(enum pvmd_guest_state){0}, &err),
			 -ENOENT);
	pvmd_driver_close(&drv);
}
END_TEST

START_TEST(test_console_limit)
{
	struct pvmd_guest_def def = idle_def;
	char limited[PATH_MAX * 2], image[PATH_MAX + 32], log[PATH_MAX + 64];
	json_object *stats = NULL;
	struct stat sb;

	/* a guest that writes 100000 console bytes gets 1000 into its log */
	snprintf(limited, sizeof(limited), "%s?vmm=%s&console_limit=1000", dir, PVM_VMM);
	ck_assert_msg(pvmd_driver_open("hv", limited, &drv, &err) == 0, "%s", err.msg);
	snprintf(image, sizeof(image), "%s/guest-console", PVM_GUEST_DIR);
	def.id = "g-chatty";
	def.image = image;
	def.cmdline = "mode=pv bytes=100000";
	ck_assert_msg(drv.ops->define(drv.priv, &def, &err) == 0, "%s", err.msg);
	ck_assert_msg(drv.ops->start(drv.priv, def.id, &err) == 0, "%s", err.msg);
	for (int i = 0; i < 500 && state_of(def.id) == PVMD_GUEST_RUNNING; i++)
		pvm_sleep_ns(10 * 1000000ull);
	ck_assert_int_eq(state_of(def.id), PVMD_GUEST_STOPPED);
	ck_assert_msg(drv.ops->stats(drv.priv, def.id, &stats, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(stats, "console_dropped")),
			 99000);
	json_object_put(stats);
	snprintf(log, sizeof(log), "%s/guests/%s.log", dir, def.id);
	ck_assert_int_eq(stat(log, &sb), 0);
	/* the guest's 1000 bytes plus the VMM's own few log lines */
	ck_assert_int_lt(sb.st_size, 8192);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, def.id, &err), 0);
	pvmd_driver_close(&drv);
	snprintf(limited, sizeof(limited), "%s?vmm=%s&console_limit=lots", dir, PVM_VMM);
	ck_assert_int_eq(pvmd_driver_open("hv", limited, &drv, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "console_limit"));
}
END_TEST

/* A VMM that never answers on its socket is not started: start fails, it is killed. */
START_TEST(test_silent_vmm)
{
	char fake[PATH_MAX + 16], u[PATH_MAX * 3];
	FILE *f;

	snprintf(fake, sizeof(fake), "%s/silent-vmm", dir);
	f = fopen(fake, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\nexec sleep 60\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(fake, 0755), 0);
	snprintf(u, sizeof(u), "%s?vmm=%s&seccomp=off&cgroup=off", dir, fake);
	memset(&drv, 0, sizeof(drv));
	ck_assert_msg(pvmd_driver_open("hv", u, &drv, &err) == 0, "%s", err.msg);
	define_idle(IDLE_ID);
	ck_assert_int_eq(drv.ops->start(drv.priv, IDLE_ID, &err), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(err.msg, "did not answer"));
	ck_assert_int_ne(state_of(IDLE_ID), PVMD_GUEST_RUNNING);
}
END_TEST

START_TEST(test_bad_input)
{
	struct pvmd_guest_def def = idle_def;
	char notelf[PATH_MAX + 16];
	int fd;

	open_hv();
	def.image = idle_image;
	def.id = "../escape";
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EINVAL);
	def.id = "";
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EINVAL);
	def.id = IDLE_ID;
	def.name = "bad name";
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EINVAL);
	def.name = "idle-1";
	def.vcpus = 0;
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EINVAL);
	def.vcpus = 1;
	def.image = "/nonexistent/guest";
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -ENOENT);
	ck_assert_str_eq(err.field, "/image");
	def.image = NULL;
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -ENOENT);
	ck_assert_int_eq(drv.ops->start(drv.priv, IDLE_ID, &err), -ENOENT);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 100, &err), -ENOENT);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, IDLE_ID, &err), -ENOENT);
	define_idle(IDLE_ID);
	def.image = idle_image;
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EEXIST);
	/* a VMM that refuses its configuration: start fails with its one-line reason */
	snprintf(notelf, sizeof(notelf), "%s/not-elf", dir);
	fd = open(notelf, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_eq(write(fd, "hello\n", 6), 6);
	close(fd);
	def.id = "g-notelf";
	def.image = notelf;
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), 0);
	ck_assert_int_eq(drv.ops->start(drv.priv, "g-notelf", &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "status 2"));
	ck_assert_int_eq(state_of("g-notelf"), PVMD_GUEST_CRASHED);
	/* nothing was lost: the good definition is still there */
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_DEFINED);
	pvmd_driver_close(&drv);
}
END_TEST

START_TEST(test_crash)
{
	int64_t pid;

	open_hv();
	define_idle(IDLE_ID);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	pid = pid_of(IDLE_ID);
	ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	for (int i = 0; i < 500 && state_of(IDLE_ID) == PVMD_GUEST_RUNNING; i++)
		pvm_sleep_ns(10 * 1000 * 1000);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_CRASHED);
	/* a killed VMM wrote no final statistics */
	ck_assert_int_eq(drv.ops->stats(drv.priv, IDLE_ID, &(json_object *){NULL}, &err),
			 -ENOTCONN);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_RUNNING);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);
	pvmd_driver_close(&drv);
}
END_TEST

/*
 * A "pvmd" that starts the guest's VMM in a real child process, which is then
 * SIGKILLed: the VMM is left to be adopted. Returns the VMM's pid.
 */
static int64_t start_in_child(bool define)
{
	int pipefd[2], status;
	int64_t vmm_pid = 0;
	pid_t child;

	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int64_t pid;

		close(pipefd[0]);
		open_hv();
		if (define)
			define_idle(IDLE_ID);
		if (drv.ops->start(drv.priv, IDLE_ID, &err) < 0)
			_exit(1);
		pid = pid_of(IDLE_ID);
		if (write(pipefd[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	ck_assert_int_eq(read(pipefd[0], &vmm_pid, sizeof(vmm_pid)), (ssize_t)sizeof(vmm_pid));
	close(pipefd[0]);
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	return vmm_pid;
}

static void wait_no_vmm(void)
{
	for (int i = 0; i < 500 && vmms_with(IDLE_ID) > 0; i++)
		pvm_sleep_ns(10 * 1000 * 1000);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
}

START_TEST(test_readopt)
{
	struct pvmd_guest_info *infos = NULL;
	char sock[PATH_MAX + 64];
	json_object *ans = NULL;
	int64_t vmm_pid;
	size_t n = 0;

	vmm_pid = start_in_child(true);
	open_hv();
	ck_assert_int_eq(drv.ops->list(drv.priv, &infos, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(infos[0].state, PVMD_GUEST_RUNNING);
	free(infos);
	/* re-adopted, not restarted: same process, one VMM */
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(pid_of(IDLE_ID), vmm_pid);
	ck_assert_int_eq(vmms_with(IDLE_ID), 1);
	ck_assert_msg(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_DEFINED);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
	pvmd_driver_close(&drv);

	/* an adopted VMM that ends by itself: its exit code (0) comes from its statistics */
	start_in_child(false);
	open_hv();
	snprintf(sock, sizeof(sock), "%s/guests/%s.sock", dir, IDLE_ID);
	ck_assert_int_eq(pvmd_vmm_call(sock, "{\"cmd\":\"stop\"}", 2000, &ans, &err), 0);
	json_object_put(ans);
	wait_no_vmm();
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_STOPPED);
	pvmd_driver_close(&drv);

	/* one killed outright left none: a crash */
	vmm_pid = start_in_child(false);
	open_hv();
	ck_assert_int_eq(kill((pid_t)vmm_pid, SIGKILL), 0);
	wait_no_vmm();
	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_CRASHED);
	pvmd_driver_close(&drv);
}
END_TEST

/* A VMM serving IDLE_ID's socket that host.db does not name (pvmd died
 * between fork and recording its pid). */
static pid_t spawn_unrecorded(char *sock, size_t len)
{
	char log[PATH_MAX + 64];
	pid_t vmm;

	open_hv();
	define_idle(IDLE_ID);
	snprintf(sock, len, "%s/guests/%s.sock", dir, IDLE_ID);
	snprintf(log, sizeof(log), "%s/unrecorded.log", dir);
	vmm = fork();
	ck_assert_int_ge(vmm, 0);
	if (vmm == 0) {
		dup2(open(log, O_WRONLY | O_CREAT, 0644), 1);
		execl(PVM_VMM, "pvm-vmm", "run", "--image", idle_image, "--mem", "16", "--cmdline",
		      "mode=pv", "--api-sock", sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && pvmd_vmm_peer_pid(sock) != vmm; i++)
		pvm_sleep_ns(10 * 1000 * 1000);
	ck_assert_int_eq(pvmd_vmm_peer_pid(sock), vmm);
	return vmm;
}

/* A VMM whose start pvmd never recorded (killed between fork and commit) is
 * adopted through its socket, not started a second time. */
START_TEST(test_adopt_unrecorded)
{
	char sock[PATH_MAX + 64];
	pid_t vmm = spawn_unrecorded(sock, sizeof(sock));
	int64_t pid;

	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	pid = pid_of(IDLE_ID);
	ck_assert_int_eq(pid, vmm);
	ck_assert_int_eq(vmms_with(IDLE_ID), 1);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
	ck_assert_int_eq(pvmd_vmm_peer_pid(sock), 0);
	pvmd_driver_close(&drv);
}
END_TEST

/*
 * Found by daemon_faults under ASan ("runs 2 times"): a VMM pvmd forked
 * before it died, still starting and not yet answering on its socket, is
 * killed with its process group before the guest starts, not left to run
 * beside the new VMM. Here a shell that names the socket as a VMM would.
 */
START_TEST(test_kill_unrecorded_starting)
{
	char sock[PATH_MAX + 64];
	pid_t fake;

	open_hv();
	define_idle(IDLE_ID);
	snprintf(sock, sizeof(sock), "%s/guests/%s.sock", dir, IDLE_ID);
	fake = fork();
	ck_assert_int_ge(fake, 0);
	if (fake == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "sleep 60; :", "pvm-vmm", "--api-sock", sock,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && vmms_with(IDLE_ID) != 1; i++)
		pvm_sleep_ns(10 * 1000 * 1000);
	ck_assert_int_eq(vmms_with(IDLE_ID), 1);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_int_ne(pid_of(IDLE_ID), fake);
	ck_assert_int_eq(kill(fake, 0), -1); /* killed and reaped */
	ck_assert_int_eq(vmms_with(IDLE_ID), 1);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
	pvmd_driver_close(&drv);
}
END_TEST

/*
 * Found by daemon_kill_random: a host daemon SIGKILLed between forking a
 * VMM and recording it left a VMM that the next daemon's state() called
 * not running and stop() left alone, so a deleted guest ran on.
 */
START_TEST(test_stop_unrecorded)
{
	char sock[PATH_MAX + 64];
	pid_t vmm = spawn_unrecorded(sock, sizeof(sock));

	ck_assert_int_eq(state_of(IDLE_ID), PVMD_GUEST_RUNNING);
	ck_assert_int_eq(pid_of(IDLE_ID), vmm);
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);
	ck_assert_int_eq(vmms_with(IDLE_ID), 0);
	ck_assert_msg(drv.ops->undefine(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	pvmd_driver_close(&drv);
}
END_TEST

static const char *platform_of(const char *id)
{
	static char name[16];
	json_object *stats = NULL;
	const char *s = "";

	ck_assert_msg(drv.ops->stats(drv.priv, id, &stats, &err) == 0, "%s", err.msg);
	pvm_json_get_str(stats, "platform", &s);
	snprintf(name, sizeof(name), "%s", s);
	json_object_put(stats);
	return name;
}

/* platform= in the URI is every guest's --platform; a guest's own platform
 * wins, and host.db keeps it for the next start. Process always runs. */
START_TEST(test_platform_option)
{
	const char *want = strcmp(test_platform(), "kvm") == 0 ? "kvm" : "process";
	struct pvmd_guest_def def = idle_def;
	char forced[PATH_MAX * 2 + 32];

	snprintf(forced, sizeof(forced), "%s&platform=process", uri);
	ck_assert_msg(pvmd_driver_open("hv", forced, &drv, &err) == 0, "%s", err.msg);
	define_idle(IDLE_ID);
	ck_assert_msg(drv.ops->start(drv.priv, IDLE_ID, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(platform_of(IDLE_ID), "process");
	ck_assert_int_eq(drv.ops->stop(drv.priv, IDLE_ID, 5000, &err), 0);

	def.id = "g-own";
	def.image = idle_image;
	def.platform = "warp";
	ck_assert_int_eq(drv.ops->define(drv.priv, &def, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "platform"));
	def.platform = want;
	ck_assert_msg(drv.ops->define(drv.priv, &def, &err) == 0, "%s", err.msg);
	pvmd_driver_close(&drv);
	/* a driver opened anew reads the guest's platform from host.db */
	ck_assert_msg(pvmd_driver_open("hv", forced, &drv, &err) == 0, "%s", err.msg);
	ck_assert_msg(drv.ops->start(drv.priv, "g-own", &err) == 0, "%s", err.msg);
	ck_assert_str_eq(platform_of("g-own"), want);
	ck_assert_int_eq(drv.ops->stop(drv.priv, "g-own", 5000, &err), 0);
	pvmd_driver_close(&drv);
}
END_TEST

/* A host.db of schema 1 (no platform column) is migrated in place: its
 * guests stay, with the driver's platform, and new ones keep their own. */
START_TEST(test_hstate_v1)
{
	struct pvmd_hguest g = {0}, got;
	struct pvmd_hstate *hs;
	char path[PATH_MAX + 16];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/host.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_exec(
		db,
		"CREATE TABLE guest (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
		" vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, image TEXT NOT NULL,"
		" disk TEXT, cmdline TEXT, pid INTEGER NOT NULL DEFAULT 0,"
		" starttime INTEGER NOT NULL DEFAULT 0,"
		" exit_status INTEGER NOT NULL DEFAULT -1,"
		" stopping INTEGER NOT NULL DEFAULT 0);"
		"INSERT INTO guest (id, name, vcpus, memory_mib, image)"
		" VALUES ('g-old', 'old', 1, 16, '/x');"
		"PRAGMA user_version = 1;",
		NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	ck_assert_msg(pvmd_hstate_open(path, &hs, &err) == 0, "%s", err.msg);
	ck_assert_msg(pvmd_hstate_get(hs, "g-old", &got, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(got.image, "/x");
	ck_assert_str_eq(got.platform, "");
	pvmd_hguest_free(&got);
	snprintf(g.id, sizeof(g.id), "g-new");
	snprintf(g.name, sizeof(g.name), "new");
	g.vcpus = 1;
	g.memory_mib = 16;
	g.image = "/y";
	snprintf(g.platform, sizeof(g.platform), "process");
	ck_assert_msg(pvmd_hstate_add(hs, &g, &err) == 0, "%s", err.msg);
	pvmd_hstate_close(hs);
	/* opened again (now schema 2), both are there as they were */
	ck_assert_msg(pvmd_hstate_open(path, &hs, &err) == 0, "%s", err.msg);
	ck_assert_msg(pvmd_hstate_get(hs, "g-new", &got, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(got.platform, "process");
	pvmd_hguest_free(&got);
	ck_assert_msg(pvmd_hstate_get(hs, "g-old", &got, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(got.platform, "");
	pvmd_hguest_free(&got);
	pvmd_hstate_close(hs);
}
END_TEST

/* One test case per test: the unchecked fixture then gives each its own directory. */
static void add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	test_platform_require();
	s = suite_create("daemon_driver_hv");
	add(s, "spawn_confined", test_spawn_confined);
	add(s, "spawn_errors", test_spawn_errors);
	add(s, "open_errors", test_open_errors);
	add(s, "state_dir_ownership", test_state_dir_ownership);
	add(s, "lifecycle", test_lifecycle);
	add(s, "console_limit", test_console_limit);
	add(s, "bad_input", test_bad_input);
	add(s, "silent_vmm", test_silent_vmm);
	add(s, "crash", test_crash);
	add(s, "readopt", test_readopt);
	add(s, "adopt_unrecorded", test_adopt_unrecorded);
	add(s, "stop_unrecorded", test_stop_unrecorded);
	add(s, "kill_unrecorded_starting", test_kill_unrecorded_starting);
	add(s, "platform", test_platform_option);
	add(s, "hstate_v1", test_hstate_v1);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
