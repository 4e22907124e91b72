// SPDX-License-Identifier: MIT
/*
 * The VMM's own confinement, as Firecracker's: each of its long-lived
 * threads installs, as it starts, an allow-list of the system calls its job
 * needs (libseccomp); anything else fails with EPERM. The main thread (which
 * starts the process platform's guest process and writes the statistics at
 * the end) and the signal thread keep pvmd's filter only. A VMM subverted
 * through a device, a hook or the control socket runs on one of these
 * threads, so what it can do is this list.
 */
#include <errno.h>
#include <seccomp.h>
#include <string.h>

#include "hv/vm.h"

/* Every thread: memory (malloc), time, locks, signals of its own, the end. */
static const int base_calls[] = {
    SCMP_SYS(read),	     SCMP_SYS(write),		SCMP_SYS(readv),	SCMP_SYS(writev),
    SCMP_SYS(close),	     SCMP_SYS(futex),		SCMP_SYS(mmap),		SCMP_SYS(munmap),
    SCMP_SYS(mprotect),	     SCMP_SYS(madvise),		SCMP_SYS(mremap),	SCMP_SYS(brk),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),	SCMP_SYS(gettid),
    SCMP_SYS(getpid),	     SCMP_SYS(rt_sigprocmask),	SCMP_SYS(rt_sigreturn), SCMP_SYS(exit),
    SCMP_SYS(exit_group),    SCMP_SYS(restart_syscall), SCMP_SYS(sched_yield),	SCMP_SYS(getrandom),
    SCMP_SYS(fstat),	     SCMP_SYS(newfstatat),	SCMP_SYS(lseek),	SCMP_SYS(rseq),
    SCMP_SYS(sigaltstack), /* the sanitizers' own, at a thread's end */
};

/* vCPU threads: KVM's ioctls, the emulated disk, kicks (tgkill, and the
 * process platform's SIGKILL for a guest that ignores them). */
static const int vcpu_calls[] = {
    SCMP_SYS(ioctl), SCMP_SYS(pread64),		SCMP_SYS(pwrite64),  SCMP_SYS(tgkill),
    SCMP_SYS(kill),  SCMP_SYS(rt_sigtimedwait), SCMP_SYS(fdatasync),
};

/* The pv I/O thread: doorbell eventfds, the pv disk, the console. */
static const int io_calls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),	  SCMP_SYS(fdatasync),	 SCMP_SYS(tgkill),
};

/* The control thread: its socket's clients. */
static const int ctl_calls[] = {
    SCMP_SYS(poll),	  SCMP_SYS(ppoll),	SCMP_SYS(accept4),  SCMP_SYS(accept),
    SCMP_SYS(sendto),	  SCMP_SYS(recvfrom),	SCMP_SYS(sendmsg),  SCMP_SYS(recvmsg),
    SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(shutdown), SCMP_SYS(fcntl),
    SCMP_SYS(tgkill),
};

static int add_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* a call this kernel or libseccomp does not know is simply not there */
		if (calls[i] < 0)
			continue;
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int hv_confine_thread(enum hv_thread_role role)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = add_all(ctx, base_calls, PVM_ARRAY_SIZE(base_calls));
	if (!ret && role == HV_THREAD_VCPU)
		ret = add_all(ctx, vcpu_calls, PVM_ARRAY_SIZE(vcpu_calls));
	if (!ret && role == HV_THREAD_IO)
		ret = add_all(ctx, io_calls, PVM_ARRAY_SIZE(io_calls));
	if (!ret && role == HV_THREAD_CTL)
		ret = add_all(ctx, ctl_calls, PVM_ARRAY_SIZE(ctl_calls));
	/* this thread only: the others install their own lists */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}
