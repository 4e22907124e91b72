// SPDX-License-Identifier: MIT
/*
 * Escape attempts (guest/workloads/escape.c) against the real pvm-vmm, once
 * per platform: system calls by every instruction that makes them, jumps into
 * the process platform's stub with the registers of a forbidden call, stores
 * and loads outside what the guest may reach. Each must end the guest with a
 * fault (and say why) within a bounded time, create nothing on the host,
 * kill nothing, and leave no descriptor or process behind in the test.
 */
#include <check.h>
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv/hv.h"
#include "tests/platform.h"
#include "vmm.h"

#define RUN_TIMEOUT_MS	 15000
#define ORPHAN_GRACE_MS	 2000
#define ESCAPE_NO_SITE	 3 /* the guest's code when the stub has no such site */
#define ESCAPE_MIN_SITES 10

enum ppid_arg {
	PPID_NONE,
	PPID_TEST, /* ppid= the test process */
	PPID_VMM,  /* ppid= pvm-vmm itself, the guest process's parent */
};

struct run {
	int code; /* exit code, or 128 + signal */
	bool timed_out;
	char out[16384];
	char err[16384];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool on_process(void)
{
	enum hv_platform_id p = vmm_platform();

	return p == HV_PLATFORM_PROCESS ||
	       (p == HV_PLATFORM_AUTO && hv_platform_probe() != HV_PLATFORM_KVM);
}

static bool cpu_is_amd(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(0, &a, &b, &c, &d))
		return false;
	/* "AuthenticAMD": ebx "Auth", edx "enti", ecx "cAMD" */
	return b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;
}

static void slurp(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t k;

	buf[0] = 0;
	if (fd < 0)
		return;
	while (len < n - 1 && (k = read(fd, buf + len, n - 1 - len)) > 0)
		len += (size_t)k;
	buf[len] = 0;
	close(fd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Processes whose parent is this one and that are not zombies. The test is a
 * child subreaper, so a guest process that outlived its VMM shows up here.
 * Reaps zombies; kills what lives when kill_them.
 */
static int live_children(bool kill_them)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0, st;

	ck_assert_ptr_nonnull(d);
	while (waitpid(-1, &st, WNOHANG) > 0)
		;
	while ((e = readdir(d))) {
		char path[300], buf[512], *p, state;
		int ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		slurp(path, buf, sizeof(buf));
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid != getpid() || state == 'Z')
			continue;
		n++;
		if (kill_them)
			kill(atoi(e->d_name), SIGKILL);
	}
	closedir(d);
	return n;
}

/*
 * Runs pvm-vmm with args (NULL-terminated, without argv[0]), stdout and
 * stderr to files, and kills it after RUN_TIMEOUT_MS. ppid adds ppid=N to
 * the command line (args[cmdline_at]). term_on: SIGTERM once stdout holds it.
 */
static void run_vmm(struct run *r, const char **args, int cmdline_at, enum ppid_arg ppid,
		    const char *term_on)
{
	char outp[4096], errp[4096], cmd[512];
	const char *argv[32];
	pid_t test = getpid(), pid;
	uint64_t deadline;
	bool termed = false;
	int n = 0, st = 0;

	memset(r, 0, sizeof(*r));
	snprintf(outp, sizeof(outp), "%s", vmm_tmp("escape.out"));
	snprintf(errp, sizeof(errp), "%s", vmm_tmp("escape.err"));
	argv[n++] = PVM_VMM;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		/* the test is single-threaded: formatting after fork is fine */
		if (ppid != PPID_NONE) {
			snprintf(cmd, sizeof(cmd), "%s ppid=%d", args[cmdline_at],
				 (int)(ppid == PPID_VMM ? getpid() : test));
			argv[cmdline_at + 1] = cmd;
		}
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(PVM_VMM, (char *const *)argv);
		_exit(127);
	}
	deadline = now_ms() + RUN_TIMEOUT_MS;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		ck_assert_int_eq(w, 0);
		if (term_on && !termed) {
			slurp(outp, r->out, sizeof(r->out));
			if (strstr(r->out, term_on)) {
				kill(pid, SIGTERM);
				termed = true;
			}
		}
		if (now_ms() > deadline) {
			r->timed_out = true;
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(5000);
	}
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(outp, r->out, sizeof(r->out));
	slurp(errp, r->err, sizeof(r->err));
	unlink(outp);
	unlink(errp);
}

struct escape {
	const char *kind;
	const char *extra; /* more of the command line */
	enum ppid_arg ppid;
	bool process_only; /* aims at the process platform's stub */
	/* on the process platform, stderr must hold one of these (NULL: unused) */
	const char *want[3];
	const char *also; /* and this, when not NULL */
};

#define SYSCALL_64(nr) "system call " nr " (syscall, x86-64 ABI)"
#define SECCOMP	       "guest process killed by its seccomp filter"
#define PF	       "#PF (vector 14)"

static const struct escape escapes[] = {
    {"syscall_open", NULL, PPID_NONE, false, {SYSCALL_64("2")}, NULL},
    /* sysenter: #UD in 64-bit mode on AMD; Intel enters the kernel's i386
     * path (a trapped call), or #GP where the kernel has no i386 entry */
    {"sysenter", NULL, PPID_NONE, false, {NULL}, NULL},
    /* int $0x80: the i386 ABI where the kernel has it, else #GP (0x80 << 3 | 2) */
    {"int80",
     NULL,
     PPID_NONE,
     false,
     {"system call 5 (int $0x80, i386 ABI)", "#GP (vector 13)"},
     NULL},
    {"execve", NULL, PPID_NONE, false, {SYSCALL_64("59")}, NULL},
    {"kill_parent", NULL, PPID_TEST, false, {SYSCALL_64("62")}, NULL},
    {"kill_parent", NULL, PPID_VMM, false, {SYSCALL_64("62")}, NULL},
    {"kill_parent", NULL, PPID_NONE, false, {SYSCALL_64("62")}, NULL}, /* pid 1 */
    {"ptrace", NULL, PPID_NONE, false, {SYSCALL_64("101")}, NULL},
    {"mmap", NULL, PPID_NONE, false, {SYSCALL_64("9")}, NULL},
    {"mprotect_stub", NULL, PPID_NONE, true, {SYSCALL_64("10")}, NULL},
    {"stub_open", NULL, PPID_NONE, true, {SECCOMP}, NULL},
    {"stub_fork", NULL, PPID_NONE, true, {SECCOMP}, NULL},
    {"stub_kill", NULL, PPID_VMM, true, {SECCOMP}, NULL},
    {"stub_kill", NULL, PPID_TEST, true, {SECCOMP}, NULL},
    {"stub_execve", NULL, PPID_NONE, true, {SECCOMP}, NULL},
    {"stub_write", NULL, PPID_NONE, true, {SECCOMP}, NULL},
    {"stub_futex", NULL, PPID_NONE, true, {SECCOMP}, NULL},
    {"write_boot", NULL, PPID_NONE, false, {PF}, "cr2 0x1ff000"},
    {"write_stub", NULL, PPID_NONE, false, {PF}, "cr2 0x7e0000000000"},
    {"read_outside", "at=0", PPID_NONE, false, {PF}, "cr2 0x7e0ffffff000"},
    {"read_outside", "at=1", PPID_NONE, false, {PF}, "cr2 0x50000000000"},
};

/* What every attempt must leave behind: nothing. */
struct before {
	int fds;
	char marker[128];
};

static void before_run(struct before *b, const char *tag)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(live_children(true), 0);
	snprintf(b->marker, sizeof(b->marker), "/tmp/pvm-escape-%s", tag);
	unlink(b->marker);
	b->fds = count_fds();
}

static void after_run(const struct before *b, const struct run *r, const char *what)
{
	uint64_t deadline = now_ms() + ORPHAN_GRACE_MS;
	int left;

	ck_assert_msg(!r->timed_out, "%s: pvm-vmm still running after %d ms (killed); stdout: %s",
		      what, RUN_TIMEOUT_MS, r->out);
	ck_assert_msg(access(b->marker, F_OK) < 0 && errno == ENOENT, "%s: %s exists", what,
		      b->marker);
	/* the test is alive (it runs this), though kill_parent aimed at it */
	ck_assert_int_eq(kill(getpid(), 0), 0);
	ck_assert_msg(count_fds() == b->fds, "%s: %d descriptors before, %d after", what, b->fds,
		      count_fds());
	/* the guest process does not outlive pvm-vmm */
	while ((left = live_children(false)) && now_ms() < deadline)
		usleep(10000);
	ck_assert_msg(left == 0, "%s: %d process(es) outlived pvm-vmm", what, live_children(true));
}

static bool has_any(const char *s, const char *const *want, int n)
{
	for (int i = 0; i < n && want[i]; i++)
		if (strstr(s, want[i]))
			return true;
	return false;
}

static void check_end(const struct run *r, const struct escape *e, const char *what)
{
	const char *sysenter_want[3] = {"#UD (vector 6)"};
	const char *const *want = e->want;

	if (!on_process()) {
		/* kvm (untested here): the guest's own syscall MSRs and IDT fault it;
		 * any guest fault is right, a clean end or a VMM error is not */
		ck_assert_msg(r->code == HV_EXIT_GUEST_FAULT || r->code == HV_EXIT_TRIPLE ||
				  r->code == HV_EXIT_EMULATION,
			      "%s: exit %d, stderr: %s", what, r->code, r->err);
		ck_assert_msg(strstr(r->err, "pvm-vmm: "), "%s: stderr: %s", what, r->err);
		if (!strcmp(e->want[0] ? e->want[0] : "", PF))
			ck_assert_msg(strstr(r->err, PF), "%s: stderr: %s", what, r->err);
		return;
	}
	ck_assert_msg(r->code == HV_EXIT_GUEST_FAULT, "%s: exit %d, stdout: %s, stderr: %s", what,
		      r->code, r->out, r->err);
	ck_assert_msg(strstr(r->err, "guest fault on vcpu 0: "), "%s: stderr: %s", what, r->err);
	/* one line */
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "%s: stderr: %s", what,
		      r->err);
	if (!strcmp(e->kind, "sysenter")) {
		if (!cpu_is_amd()) {
			sysenter_want[0] = "system call";
			sysenter_want[1] = "#GP (vector 13)";
		}
		want = sysenter_want;
	}
	ck_assert_msg(has_any(r->err, want, 3), "%s: stderr lacks '%s': %s", what, want[0], r->err);
	if (e->also)
		ck_assert_msg(strstr(r->err, e->also), "%s: stderr lacks '%s': %s", what, e->also,
			      r->err);
	fprintf(stderr, "%s: %s", what, r->err);
}

START_TEST(escape_ends_the_guest)
{
	const struct escape *e = &escapes[_i];
	char tag[64], cmd[256], what[128];
	const char *argv[] = {"run", "--image", vmm_guest("escape"), "--cmdline", cmd, NULL};
	struct before b;
	struct run r;

	snprintf(what, sizeof(what), "%s%s%s%s", e->kind, e->extra ? " " : "",
		 e->extra ? e->extra : "",
		 e->ppid == PPID_VMM	? " ppid=vmm"
		 : e->ppid == PPID_TEST ? " ppid=test"
					: "");
	if (e->process_only && !on_process()) {
		fprintf(stderr, "%s: skipped: needs the process platform\n", what);
		return;
	}
	snprintf(tag, sizeof(tag), "%d-%d", (int)getpid(), _i);
	snprintf(cmd, sizeof(cmd), "kind=%s tag=%s%s%s", e->kind, tag, e->extra ? " " : "",
		 e->extra ? e->extra : "");
	before_run(&b, tag);
	run_vmm(&r, argv, 4, e->ppid, NULL);
	after_run(&b, &r, what);
	/* the guest aimed at the very file checked for */
	ck_assert_msg(strstr(r.out, b.marker), "%s: stdout: %s", what, r.out);
	check_end(&r, e, what);
}
END_TEST

/* stub_open through every 0f 05 in the stub's text, not only the first. */
START_TEST(every_stub_syscall_site_kills)
{
	char tag[64], cmd[256], what[64];
	const char *argv[] = {"run", "--image", vmm_guest("escape"), "--cmdline", cmd, NULL};
	const struct escape e = {"stub_open", NULL, PPID_NONE, true, {SECCOMP}, NULL};
	unsigned int nth;

	if (!on_process()) {
		fprintf(stderr, "stub sites: skipped: needs the process platform\n");
		return;
	}
	snprintf(tag, sizeof(tag), "%d-sites", (int)getpid());
	for (nth = 0; nth < 256; nth++) {
		struct before b;
		struct run r;

		snprintf(cmd, sizeof(cmd), "kind=stub_open tag=%s nth=%u", tag, nth);
		snprintf(what, sizeof(what), "stub_open nth=%u", nth);
		before_run(&b, tag);
		run_vmm(&r, argv, 4, PPID_NONE, NULL);
		after_run(&b, &r, what);
		if (r.code == ESCAPE_NO_SITE && strstr(r.out, "escape: no syscall #"))
			break;
		ck_assert_msg(strstr(r.out, b.marker), "%s: stdout: %s", what, r.out);
		check_end(&r, &e, what);
	}
	fprintf(stderr, "stub sites: %u, every one killed the guest process\n", nth);
	ck_assert_uint_ge(nth, ESCAPE_MIN_SITES);
}
END_TEST

/*
 * rt_sigreturn is on the stub's allow-list, so a guest can jump to it with a
 * frame of its own, which sets its signal mask: vCPU 1 blocks SIGUSR1, the
 * VMM's kick, and spins. The guest must still end when vCPU 0 faults.
 */
START_TEST(blocked_kick_fault_ends_the_guest)
{
	char tag[64], cmd[256];
	const char *argv[] = {"run", "--image", vmm_guest("escape"), "--vcpus", "2", "--cmdline",
			      cmd,   NULL};
	struct before b;
	struct run r;

	if (!on_process()) {
		fprintf(stderr, "stub_sigmask: skipped: needs the process platform\n");
		return;
	}
	snprintf(tag, sizeof(tag), "%d-mask", (int)getpid());
	snprintf(cmd, sizeof(cmd), "kind=stub_sigmask tag=%s", tag);
	before_run(&b, tag);
	run_vmm(&r, argv, 6, PPID_NONE, NULL);
	ck_assert_msg(strstr(r.out, "vcpu 1 spins with SIGUSR1 blocked"), "stdout: %s", r.out);
	after_run(&b, &r, "stub_sigmask");
	ck_assert_msg(r.code == HV_EXIT_GUEST_FAULT, "exit %d: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, "guest fault on vcpu 0: #UD (vector 6)"), "stderr: %s", r.err);
	fprintf(stderr, "stub_sigmask: %s", r.err);
}
END_TEST

/* The same guest, stopped by SIGTERM: vCPU 0 powers off, or the stop is forced. */
START_TEST(blocked_kick_stop_ends_the_guest)
{
	char tag[64], cmd[256];
	const char *argv[] = {"run", "--image", vmm_guest("escape"), "--vcpus", "2", "--cmdline",
			      cmd,   NULL};
	struct before b;
	struct run r;

	if (!on_process()) {
		fprintf(stderr, "stub_sigmask then=stop: skipped: needs the process platform\n");
		return;
	}
	snprintf(tag, sizeof(tag), "%d-stop", (int)getpid());
	snprintf(cmd, sizeof(cmd), "kind=stub_sigmask then=stop tag=%s", tag);
	before_run(&b, tag);
	run_vmm(&r, argv, 6, PPID_NONE, "vcpu 1 spins with SIGUSR1 blocked");
	ck_assert_msg(strstr(r.out, "vcpu 1 spins with SIGUSR1 blocked"), "stdout: %s", r.out);
	after_run(&b, &r, "stub_sigmask then=stop");
	ck_assert_msg(r.code == 0 || r.code == HV_EXIT_FORCED, "exit %d: %s", r.code, r.err);
	fprintf(stderr, "stub_sigmask then=stop: exit %d%s%s", r.code, r.err[0] ? ", " : "\n",
		r.err);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	vmm_require_platform();
	s = suite_create("hv_escape");
	tc = tcase_create("escape");
	tcase_add_loop_test(tc, escape_ends_the_guest, 0,
			    (int)(sizeof(escapes) / sizeof(escapes[0])));
	tcase_add_test(tc, every_stub_syscall_site_kills);
	suite_add_tcase(s, tc);
	tc = tcase_create("blocked_kick");
	tcase_add_test(tc, blocked_kick_fault_ends_the_guest);
	tcase_add_test(tc, blocked_kick_stop_ends_the_guest);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
