/* SPDX-License-Identifier: MIT */
/*
 * Spawning pvm-vmm processes: own process group (pvmd's death or a signal to
 * pvmd's group leaves guests running), console to a log file, cgroup v2
 * limits where the host has them, no_new_privs and a seccomp deny list.
 * Everything that allocates happens before fork: the child of a threaded
 * parent may only make async-signal-safe calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "daemon/vmm.h"

struct pvmd_seccomp {
	struct sock_fprog prog;
};

/* Syscalls a VMM never makes; any of them from pvm-vmm means it was subverted. */
static const char *const denied[] = {
#ifndef __SANITIZE_ADDRESS__
    /* LeakSanitizer in a sanitizer build of pvm-vmm stops its threads with
     * ptrace at exit; other builds deny it. */
    "ptrace",
#endif
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "bpf",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "keyctl",
    "add_key",
    "request_key",
    "unshare",
    "setns",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "syslog",
    "vhangup",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "fspick",
};

int pvmd_seccomp_build(struct pvmd_seccomp **out, struct pvm_err *err)
{
	struct pvmd_seccomp *sc = NULL;
	scmp_filter_ctx ctx;
	struct stat st;
	int fd = -1, ret;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return pvm_err_set(err, -ENOMEM, "seccomp: cannot create a filter");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(denied); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall on this architecture */
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (ret < 0) {
			ret = pvm_err_set(err, ret, "seccomp: rule for %s: %s", denied[i],
					  strerror(-ret));
			goto out;
		}
	}
	/* The program is exported once here; the forked child only hands it to prctl. */
	fd = memfd_create("pvmd-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		ret = pvm_err_set(err, -errno, "seccomp: memfd: %s", strerror(errno));
		goto out;
	}
	ret = seccomp_export_bpf(ctx, fd);
	if (ret < 0) {
		ret = pvm_err_set(err, ret, "seccomp: export: %s", strerror(-ret));
		goto out;
	}
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter)) {
		ret = pvm_err_set(err, -EIO, "seccomp: exported program has a bad size");
		goto out;
	}
	sc = calloc(1, sizeof(*sc));
	if (sc)
		sc->prog.filter = malloc((size_t)st.st_size);
	if (!sc || !sc->prog.filter) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	sc->prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	if (pread(fd, sc->prog.filter, (size_t)st.st_size, 0) != st.st_size) {
		ret = pvm_err_set(err, -EIO, "seccomp: cannot read the exported program");
		goto out;
	}
	*out = sc;
	sc = NULL;
	ret = 0;
out:
	pvmd_seccomp_free(sc);
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return ret;
}

void pvmd_seccomp_free(struct pvmd_seccomp *sc)
{
	if (!sc)
		return;
	free(sc->prog.filter);
	free(sc);
}

enum spawn_stage { STAGE_SETUP = 1, STAGE_CGROUP, STAGE_SECCOMP, STAGE_EXEC };

struct spawn_fail {
	int stage;
	int errnum;
};

static void child_fail(int fd, int stage)
{
	struct spawn_fail f = {.stage = stage, .errnum = errno};

	if (write(fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

/* Runs in the forked child: async-signal-safe calls only. */
static void child(const struct pvmd_spawn *sp, int logfd, int nullfd, int cgfd, int pipefd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	if (setpgid(0, 0) < 0)
		child_fail(pipefd, STAGE_SETUP);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, RT */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || dup2(nullfd, 0) < 0 ||
	    dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		child_fail(pipefd, STAGE_SETUP);
	if (cgfd >= 0 && write(cgfd, "0\n", 2) != 2)
		child_fail(pipefd, STAGE_CGROUP);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(pipefd, STAGE_SECCOMP);
	if (sp->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sp->seccomp->prog, 0, 0) < 0)
		child_fail(pipefd, STAGE_SECCOMP);
	execv(sp->argv[0], sp->argv);
	child_fail(pipefd, STAGE_EXEC);
}

int pvmd_spawn(const struct pvmd_spawn *sp, pid_t *pid_out, struct pvm_err *err)
{
	static const char *const stages[] = {"", "setup", "join cgroup", "seccomp", "exec"};
	int logfd = -1, nullfd = -1, cgfd = -1, pfd[2] = {-1, -1};
	struct spawn_fail f;
	char path[4200];
	ssize_t n;
	pid_t pid;
	int ret;

	logfd = open(sp->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0)
		return pvm_err_set(err, -errno, "console log %s: %s", sp->log_path,
				   strerror(errno));
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0) {
		ret = pvm_err_set(err, -errno, "/dev/null: %s", strerror(errno));
		goto out;
	}
	if (sp->cgroup && sp->cgroup[0]) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", sp->cgroup);
		cgfd = open(path, O_WRONLY | O_CLOEXEC);
		if (cgfd < 0) {
			ret = pvm_err_set(err, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ret = pvm_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ret = pvm_err_set(err, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		child(sp, logfd, nullfd, cgfd, pfd[1]);
	}
	close(pfd[1]);
	pfd[1] = -1;
	/* The pipe closes on exec: EOF means the VMM is running. */
	do
		n = read(pfd[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(f)) {
		waitpid(pid, NULL, 0);
		ret = pvm_err_set(err, -f.errnum, "spawn %s: %s: %s", sp->argv[0],
				  stages[f.stage < 1 || f.stage > STAGE_EXEC ? 0 : f.stage],
				  strerror(f.errnum));
		goto out;
	}
	*pid_out = pid;
	ret = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (cgfd >= 0)
		close(cgfd);
	if (nullfd >= 0)
		close(nullfd);
	close(logfd);
	return ret;
}

/* Reads /proc/PID/stat: state letter and start time (field 22). */
static int proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

uint64_t pvmd_proc_starttime(pid_t pid)
{
	uint64_t start = 0;
	char state;

	if (pid <= 0 || proc_stat(pid, &state, &start) < 0)
		return 0;
	return start;
}

bool pvmd_proc_alive(pid_t pid, uint64_t starttime, int *status)
{
	uint64_t start;
	char state;
	int st;
	pid_t r;

	*status = -1;
	if (pid <= 0)
		return false;
	/* Our own child: reap it and keep its exit status. */
	r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		*status = st;
		return false;
	}
	if (r == 0)
		return true;
	/* Adopted after a pvmd restart: alive while the same process runs. */
	if (proc_stat(pid, &state, &start) < 0)
		return false;
	return start == starttime && state != 'Z' && state != 'X';
}
