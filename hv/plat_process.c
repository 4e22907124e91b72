// SPDX-License-Identifier: MIT
/*
 * The process platform: no /dev/kvm. Guest RAM is a memfd the VMM maps for
 * its devices and hooks and the guest process (hv/stub/) maps at the
 * guest-physical addresses; vCPUs are the guest process's threads, running
 * guest code natively at CPL3. Each trap a vCPU thread takes is posted by the
 * stub to its slot of a shared area and answered by this file's vcpu_run
 * through one futex word: a synchronous exit costs a signal and two
 * cross-process wake-ups, with no ptrace. Doorbells of asynchronous hooks are
 * rung by the stub itself on the hook's eventfd (as KVM_IOEVENTFD does).
 *
 * The guest process starts with the stub's descriptors only, in new user,
 * network, IPC, UTS, mount and cgroup namespaces where the kernel allows
 * them, dies with the thread that made it (PR_SET_PDEATHSIG), and confines
 * itself before the first guest instruction runs (stub.c says how).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv/proc.h"

extern const uint8_t hv_stub_image[], hv_stub_image_end[];

#define SETUP_TIMEOUT_MS 5000
#define SPIN_EXIT_US	 50   /* the VMM's vCPU thread, for the guest's next exit */
#define SPIN_ANSWER_US	 50   /* the guest's vCPU thread, for the VMM's answer */
#define SPIN_MIN_NS	 2000 /* the adaptive spin never goes below this */
#define KICK_CHECK_MS	 100  /* how often a waiting vCPU thread looks at its kick */
#define KICK_DEADLINE_MS 500  /* a kick unanswered this long ends the guest */
#define NS_FLAGS                                                                                   \
	(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP)

struct proc_vm {
	int ram_fd;
	int shared_fd;
	int stub_fd;
	int efd[PV_HOOK_COUNT]; /* the pv module's; not owned here */
	uint64_t async_mask;
	uint8_t *shared;
	size_t shared_size;
	pid_t pid;
	int pidfd;
	uint64_t spin_ns; /* how long vcpu_run spins for the next exit; 0: sleep at once */
	pthread_t reaper;
	bool reaper_started;
	int dead;	  /* set once the guest process is gone (atomic) */
	int kick_ignored; /* it was killed for blocking the VMM's kick (atomic) */
	int status;
};

static struct proc_vm *pvm_of(struct hv_vm *vm)
{
	return vm->priv;
}

static struct hv_stub_setup *setup_of(struct proc_vm *p)
{
	return (struct hv_stub_setup *)p->shared;
}

static long futex(uint32_t *w, int op, uint32_t v, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, v, ts, NULL, 0);
}

/* ---- the TSC: the guest's is the host's --------------------------------- */

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;
static uint64_t tsc0, tsc0_ns;
static uint64_t tsc_khz; /* measured once per process, at the first clock page */
static pthread_mutex_t tsc_lock = PTHREAD_MUTEX_INITIALIZER;

static void tsc_start(void)
{
	tsc0_ns = pvm_now_ns();
	tsc0 = rdtsc();
}

#define TSC_CALIBRATE_NS 2000000ull /* the clock page's rate: error ~1e-4 */
#define TSC_ROUGH_NS	 50000ull   /* spin budgets: a percent off is fine */

/* The rate against CLOCK_MONOTONIC over at least min_ns since the first VM. */
static uint64_t tsc_rate_over(uint64_t min_ns)
{
	uint64_t ns, t;

	while ((ns = pvm_now_ns()) - tsc0_ns < min_ns) {
		struct timespec ts = {0, (long)(min_ns - (ns - tsc0_ns))};

		nanosleep(&ts, NULL);
	}
	t = rdtsc();
	ns = pvm_now_ns();
	return (t - tsc0) * 1000000ull / (ns - tsc0_ns);
}

/* The clock page's rate, measured once per process. */
static uint64_t tsc_rate(void)
{
	uint64_t khz;

	pthread_mutex_lock(&tsc_lock);
	if (!tsc_khz)
		tsc_khz = tsc_rate_over(TSC_CALIBRATE_NS);
	khz = tsc_khz;
	pthread_mutex_unlock(&tsc_lock);
	return khz;
}

static int proc_tsc(struct hv_vcpu *cpu, uint64_t *tsc, uint64_t *khz)
{
	(void)cpu;
	*khz = tsc_rate();
	*tsc = rdtsc();
	return 0;
}

/* ---- the VM ------------------------------------------------------------- */

/*
 * A memfd of size bytes. RLIMIT_FSIZE counts memfds too, but a limit set on
 * the VMM is meant for its files on disk (the console log): the soft limit
 * is lifted to the hard one for the ftruncate alone, before any guest runs.
 */
static int memfd(const char *name, size_t size, unsigned int flags, struct pvm_err *err)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags), ret = 0;
	struct rlimit old, lifted;

	if (fd < 0)
		return pvm_err_set(err, -errno, "memfd %s: %s", name, strerror(errno));
	if (!size)
		return fd;
	if (getrlimit(RLIMIT_FSIZE, &old) == 0 && old.rlim_cur != RLIM_INFINITY &&
	    old.rlim_cur < size) {
		lifted = (struct rlimit){old.rlim_max, old.rlim_max};
		setrlimit(RLIMIT_FSIZE, &lifted);
		if (ftruncate(fd, (off_t)size) < 0)
			ret = -errno;
		setrlimit(RLIMIT_FSIZE, &old);
	} else if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
	}
	if (ret) {
		close(fd);
		return pvm_err_set(err, ret, "memfd %s: %s", name, strerror(-ret));
	}
	return fd;
}

/* The stub's image in a sealed memfd: what the guest process executes. */
static int stub_memfd(struct pvm_err *err)
{
	size_t len = (size_t)(hv_stub_image_end - hv_stub_image), off = 0;
	int fd = memfd("pvm-stub", 0, MFD_ALLOW_SEALING, err);

	if (fd < 0)
		return fd;
	while (off < len) {
		ssize_t n = write(fd, hv_stub_image + off, len - off);

		if (n <= 0) {
			close(fd);
			return pvm_err_set(err, -EIO, "memfd pvm-stub: short write");
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
		int e = errno;

		close(fd);
		return pvm_err_set(err, -e, "memfd pvm-stub: seals: %s", strerror(e));
	}
	return fd;
}

static int proc_vm_init(struct hv_vm *vm, struct pvm_err *err)
{
	struct proc_vm *p;
	int fd;

	pthread_once(&tsc_once, tsc_start);
	p = calloc(1, sizeof(*p));
	if (!p)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	p->ram_fd = p->shared_fd = p->stub_fd = -1;
	p->spin_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? SPIN_EXIT_US * 1000ull : 0;
	p->pid = -1;
	p->pidfd = -1;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		p->efd[h] = -1;
	vm->priv = p;
	fd = memfd("pvm-ram", vm->mem_size, 0, err);
	if (fd < 0)
		return fd;
	p->ram_fd = fd;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       p->ram_fd, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return pvm_err_set(err, -errno, "guest memory: %s", strerror(errno));
	}
	p->shared_size = HV_STUB_VCPU_SIZE * (1 + vm->nvcpus);
	fd = memfd("pvm-shared", p->shared_size, 0, err);
	if (fd < 0)
		return fd;
	p->shared_fd = fd;
	p->shared = mmap(NULL, p->shared_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->shared == MAP_FAILED) {
		p->shared = NULL;
		return pvm_err_set(err, -errno, "shared area: %s", strerror(errno));
	}
	fd = stub_memfd(err);
	if (fd < 0)
		return fd;
	p->stub_fd = fd;
	return 0;
}

static int proc_vcpu_init(struct hv_vcpu *cpu, struct pvm_err *err)
{
	struct proc_vm *p = pvm_of(cpu->vm);
	struct hv_proc_vcpu *pc;

	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	cpu->priv = pc;
	pc->slot = (struct hv_stub_vcpu *)(p->shared + HV_STUB_VCPU_SIZE * (1 + cpu->id));
	pc->spin_ns = p->spin_ns;
	pc->regs = (struct hv_regs){
	    .rip = cpu->vm->entry,
	    .rsp = hv_vcpu_stack_top(cpu->vm, cpu->id),
	    .rdi = PV_BOOT_INFO_GPA,
	    .rsi = cpu->id,
	    .rflags = 0x202,
	};
	return 0;
}

static int proc_doorbell_async(struct hv_vm *vm, unsigned int hook, int efd)
{
	struct proc_vm *p = pvm_of(vm);

	if (hook >= PV_HOOK_COUNT || HV_STUB_FD_DOORBELL + hook >= HV_STUB_FD_NR)
		return -EINVAL;
	p->efd[hook] = efd;
	p->async_mask |= PV_F(hook);
	return 0;
}

/* ---- the guest process -------------------------------------------------- */

/*
 * The child, between clone and exec: only system calls, no allocation (the
 * parent has other threads, whose locks the copy may hold).
 */
static __attribute__((noreturn)) void child_exec(struct proc_vm *p, pid_t parent)
{
	char *const argv[] = {"pvm-stub", NULL}, *const envp[] = {NULL};
	int src[HV_STUB_FD_NR], stub;
	sigset_t none;

	/* out of the VMM's session: a terminal's ^C or a signal to the VMM's
	 * process group is the VMM's to act on (a graceful stop), not the guest's */
	if (setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(126);
	for (int i = 0; i < HV_STUB_FD_NR; i++)
		src[i] = -1;
	src[HV_STUB_FD_RAM] = p->ram_fd;
	src[HV_STUB_FD_SHARED] = p->shared_fd;
	for (unsigned int h = 0; h < PV_HOOK_COUNT; h++)
		src[HV_STUB_FD_DOORBELL + h] = p->efd[h];
	/* out of the way of the targets first, then into place */
	for (int i = 0; i < HV_STUB_FD_NR; i++)
		if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 64)) < 0)
			_exit(126);
	stub = fcntl(p->stub_fd, F_DUPFD_CLOEXEC, 64);
	if (stub < 0)
		_exit(126);
	for (int i = 0; i < HV_STUB_FD_NR; i++)
		if (src[i] >= 0 && dup2(src[i], i) < 0)
			_exit(126);
	close_range(0, HV_STUB_FD_RAM - 1, 0);
	for (int i = HV_STUB_FD_RAM; i < HV_STUB_FD_NR; i++)
		if (src[i] < 0)
			close(i);
	close_range(HV_STUB_FD_NR, (unsigned int)stub - 1, 0);
	close_range((unsigned int)stub + 1, ~0u, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, stub, "", argv, envp, AT_EMPTY_PATH);
	/* where execveat is missing (valgrind), the same file through /proc */
	char path[32] = "/proc/self/fd/";
	size_t n = strlen(path);

	for (int d = 1000; d; d /= 10)
		if (stub >= d || d == 1)
			path[n++] = (char)('0' + stub / d % 10);
	path[n] = 0;
	execve(path, argv, envp);
	_exit(127);
}

static void *reaper(void *arg)
{
	struct hv_vm *vm = arg;
	struct proc_vm *p = pvm_of(vm);
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	int status = 0;

	/* the pidfd says when, whatever the process does with SIGCHLD; waitpid reaps */
	while (pfd.fd >= 0 && poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
	while (waitpid(p->pid, &status, __WALL) < 0 && errno == EINTR)
		;
	p->status = status;
	__atomic_store_n(&p->dead, 1, __ATOMIC_RELEASE);
	/* waiters: on the setup word and on every vCPU's slot (RUN -> DEAD) */
	futex(&setup_of(p)->ready, FUTEX_WAKE, INT_MAX, NULL);
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		struct hv_stub_vcpu *v =
		    (struct hv_stub_vcpu *)(p->shared + HV_STUB_VCPU_SIZE * (1 + i));
		uint32_t run = HV_STUB_ST_RUN, idle = HV_STUB_ST_IDLE;

		__atomic_compare_exchange_n(&v->state, &run, HV_STUB_ST_DEAD, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		__atomic_compare_exchange_n(&v->state, &idle, HV_STUB_ST_DEAD, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		futex(&v->state, FUTEX_WAKE, INT_MAX, NULL);
	}
	return NULL;
}

static void describe_death(struct proc_vm *p, char *buf, size_t n)
{
	int s = p->status;

	if (__atomic_load_n(&p->kick_ignored, __ATOMIC_ACQUIRE))
		snprintf(buf, n,
			 "guest process ended: a vCPU ignored the VMM's kick for %d ms (it blocked "
			 "SIGUSR1)",
			 KICK_DEADLINE_MS);
	else if (WIFSIGNALED(s) && WTERMSIG(s) == SIGSYS)
		snprintf(buf, n,
			 "guest process killed by its seccomp filter (a forbidden system call "
			 "from the stub's code)");
	else if (WIFSIGNALED(s))
		snprintf(buf, n, "guest process killed by signal %d (%s)", WTERMSIG(s),
			 strsignal(WTERMSIG(s)));
	else
		snprintf(buf, n, "guest process exited with code %d", WEXITSTATUS(s));
}

static const char *const setup_steps[] = {
    "start",
    "map the shared area",
    "check the setup",
    "read /proc/self/maps",
    "map guest RAM",
    "map the boot-info page",
    "signal handlers",
    "signal stack",
    "start a vCPU thread",
    "no_new_privs",
    "seccomp filter",
};

/* Waits until the stub has confined itself (or failed, or died). */
static int wait_ready(struct proc_vm *p, struct pvm_err *err)
{
	struct hv_stub_setup *s = setup_of(p);
	uint64_t deadline = pvm_now_ns() + SETUP_TIMEOUT_MS * 1000000ull;
	uint32_t r;

	while ((r = __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) != HV_STUB_READY) {
		struct timespec ts = {0, 50 * 1000000};
		char why[160];

		if (r != 0) {
			return pvm_err_set(err, -EIO, "guest process setup failed at %s: %s",
					   r < PVM_ARRAY_SIZE(setup_steps) ? setup_steps[r] : "?",
					   strerror(-__atomic_load_n(&s->error, __ATOMIC_RELAXED)));
		}
		if (__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE)) {
			describe_death(p, why, sizeof(why));
			return pvm_err_set(err, -ECHILD, "%s before it was ready", why);
		}
		if (pvm_now_ns() > deadline)
			return pvm_err_set(err, -ETIMEDOUT, "guest process not ready after %d ms",
					   SETUP_TIMEOUT_MS);
		futex(&s->ready, FUTEX_WAIT, r, &ts);
	}
	return 0;
}

static pid_t clone_child(bool *in_ns)
{
	static int ns_refused; /* logged once per process */
	pid_t pid;

	*in_ns = false;
	if (!__atomic_load_n(&ns_refused, __ATOMIC_RELAXED)) {
		pid = (pid_t)syscall(SYS_clone, SIGCHLD | NS_FLAGS, NULL, NULL, NULL, 0);
		if (pid >= 0) {
			*in_ns = true;
			return pid;
		}
		if (errno != EPERM && errno != EINVAL && errno != ENOSPC && errno != EUSERS)
			return -1;
		if (!__atomic_exchange_n(&ns_refused, 1, __ATOMIC_RELAXED))
			pvm_log_info("process platform: no new namespaces for guest processes "
				     "(%s); confined by seccomp, rlimits and no_new_privs",
				     strerror(errno));
	}
	return (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
}

/* A guest process started but not watched (no pidfd, no reaper): it goes. */
static void abandon_child(struct proc_vm *p)
{
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, __WALL);
	p->pid = -1;
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

static int proc_vm_start(struct hv_vm *vm, struct pvm_err *err)
{
	struct proc_vm *p = pvm_of(vm);
	struct hv_stub_setup *s = setup_of(p);
	pid_t parent = getpid();
	bool in_ns;
	int ret;

	*s = (struct hv_stub_setup){
	    .magic = HV_STUB_MAGIC,
	    .version = HV_STUB_VERSION,
	    .nvcpus = vm->nvcpus,
	    .ram_start = PV_IMAGE_MIN,
	    .ram_end = vm->mapped_end,
	    .boot_gpa = PV_BOOT_INFO_GPA,
	    .async_mask = p->async_mask,
	    .shared_size = p->shared_size,
	    .doorbell_port = PV_PORT_DOORBELL,
	    .hooks = PV_HOOK_COUNT,
	    .spin_cycles = p->spin_ns ? tsc_rate_over(TSC_ROUGH_NS) * SPIN_ANSWER_US / 1000 : 0,
	};
	p->pid = clone_child(&in_ns);
	if (p->pid < 0)
		return pvm_err_set(err, -errno, "guest process: %s", strerror(errno));
	if (p->pid == 0)
		child_exec(p, parent);
	s->ns_ok = in_ns;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	/* without pidfds (valgrind has none) waitpid alone tells, SIGCHLD left alone */
	if (p->pidfd < 0 && errno != ENOSYS) {
		ret = errno;
		abandon_child(p);
		return pvm_err_set(err, -ret, "guest process: pidfd: %s", strerror(ret));
	}
	ret = pthread_create(&p->reaper, NULL, reaper, vm);
	if (ret) {
		abandon_child(p);
		return pvm_err_set(err, -ret, "guest process reaper: %s", strerror(ret));
	}
	p->reaper_started = true;
	return wait_ready(p, err);
}

static void proc_vm_stop(struct hv_vm *vm)
{
	struct proc_vm *p = pvm_of(vm);

	if (!p || !p->reaper_started)
		return;
	if (!__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE))
		kill(p->pid, SIGKILL);
	pthread_join(p->reaper, NULL);
	p->reaper_started = false;
}

static void proc_vm_free(struct hv_vm *vm)
{
	struct proc_vm *p = pvm_of(vm);

	for (unsigned int i = 0; i < HV_MAX_VCPUS; i++) {
		free(vm->vcpus[i].priv);
		vm->vcpus[i].priv = NULL;
	}
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	vm->mem = NULL;
	if (!p)
		return;
	proc_vm_stop(vm);
	if (p->shared)
		munmap(p->shared, p->shared_size);
	if (p->ram_fd >= 0)
		close(p->ram_fd);
	if (p->shared_fd >= 0)
		close(p->shared_fd);
	if (p->stub_fd >= 0)
		close(p->stub_fd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
	vm->priv = NULL;
}

/* ---- running a vCPU ----------------------------------------------------- */

static void regs_to_slot(const struct hv_regs *r, struct hv_stub_vcpu *v)
{
	uint64_t g[HV_STUB_NREGS] = {
	    [HV_STUB_R8] = r->r8,   [HV_STUB_R9] = r->r9,   [HV_STUB_R10] = r->r10,
	    [HV_STUB_R11] = r->r11, [HV_STUB_R12] = r->r12, [HV_STUB_R13] = r->r13,
	    [HV_STUB_R14] = r->r14, [HV_STUB_R15] = r->r15, [HV_STUB_RDI] = r->rdi,
	    [HV_STUB_RSI] = r->rsi, [HV_STUB_RBP] = r->rbp, [HV_STUB_RBX] = r->rbx,
	    [HV_STUB_RDX] = r->rdx, [HV_STUB_RAX] = r->rax, [HV_STUB_RCX] = r->rcx,
	    [HV_STUB_RSP] = r->rsp, [HV_STUB_RIP] = r->rip, [HV_STUB_EFL] = r->rflags,
	};

	memcpy(v->regs, g, sizeof(g));
}

static void slot_to_regs(const uint64_t *g, struct hv_regs *r)
{
	*r = (struct hv_regs){
	    .r8 = g[HV_STUB_R8],
	    .r9 = g[HV_STUB_R9],
	    .r10 = g[HV_STUB_R10],
	    .r11 = g[HV_STUB_R11],
	    .r12 = g[HV_STUB_R12],
	    .r13 = g[HV_STUB_R13],
	    .r14 = g[HV_STUB_R14],
	    .r15 = g[HV_STUB_R15],
	    .rdi = g[HV_STUB_RDI],
	    .rsi = g[HV_STUB_RSI],
	    .rbp = g[HV_STUB_RBP],
	    .rbx = g[HV_STUB_RBX],
	    .rdx = g[HV_STUB_RDX],
	    .rax = g[HV_STUB_RAX],
	    .rcx = g[HV_STUB_RCX],
	    .rsp = g[HV_STUB_RSP],
	    .rip = g[HV_STUB_RIP],
	    .rflags = g[HV_STUB_EFL],
	};
}

/*
 * Until the stub posts an exit (a thread not yet trapped is IDLE); false
 * once the guest process is gone. A guest that exits often exits again
 * within microseconds: spin that long before sleeping, where there is a
 * second CPU to spin on. The budget adapts, as gVisor's systrap does: it
 * halves each time the spin ends empty (the guest computes, or cannot get a
 * CPU because this thread holds one) and doubles when an exit comes in it.
 */
static bool wait_exit(struct proc_vm *p, struct hv_proc_vcpu *pc)
{
	struct hv_stub_vcpu *v = pc->slot;
	uint64_t t0 = pc->spin_ns ? pvm_now_ns() : 0;
	uint32_t st;

	for (unsigned int i = 0; pc->spin_ns; i++) {
		st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE);
		if (st != HV_STUB_ST_RUN && st != HV_STUB_ST_IDLE) {
			pc->spin_ns = pc->spin_ns * 2 > p->spin_ns ? p->spin_ns : pc->spin_ns * 2;
			break;
		}
		if (i % 64 == 63 && pvm_now_ns() - t0 > pc->spin_ns) {
			pc->spin_ns = pc->spin_ns / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : pc->spin_ns / 2;
			break;
		}
		__builtin_ia32_pause();
	}
	while (((st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE)) == HV_STUB_ST_RUN ||
		st == HV_STUB_ST_IDLE) &&
	       !__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, KICK_CHECK_MS * 1000000};
		uint64_t kicked = __atomic_load_n(&pc->kick_ns, __ATOMIC_ACQUIRE);

		/*
		 * A kick is answered within microseconds unless the guest blocked
		 * SIGUSR1, which it can (a forged frame through the stub's
		 * rt_sigreturn): a guest that ignores the VMM's kick is ended, so
		 * pause, stop and a fault elsewhere always complete.
		 */
		if (kicked && pvm_now_ns() - kicked > KICK_DEADLINE_MS * 1000000ull) {
			__atomic_store_n(&p->kick_ignored, 1, __ATOMIC_RELEASE);
			kill(p->pid, SIGKILL);
		}
		futex(&v->state, FUTEX_WAIT, st, &ts);
	}
	return !__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE) && st != HV_STUB_ST_DEAD;
}

static void take_exit(struct hv_proc_vcpu *pc)
{
	struct hv_stub_vcpu *v = pc->slot;
	uint64_t g[HV_STUB_NREGS];

	__atomic_store_n(&pc->kick_ns, 0, __ATOMIC_RELEASE);
	/* the stub spins on while we serve, rather than sleep (stub.c) */
	__atomic_store_n(&v->state, HV_STUB_ST_TAKEN, __ATOMIC_RELEASE);
	/* one copy: the guest may rewrite the slot while we work */
	memcpy(g, v->regs, sizeof(g));
	slot_to_regs(g, &pc->regs);
	pc->signo = __atomic_load_n(&v->signo, __ATOMIC_RELAXED);
	pc->code = __atomic_load_n(&v->code, __ATOMIC_RELAXED);
	pc->addr = __atomic_load_n(&v->addr, __ATOMIC_RELAXED);
	pc->trapno = __atomic_load_n(&v->trapno, __ATOMIC_RELAXED);
	pc->err = __atomic_load_n(&v->err, __ATOMIC_RELAXED);
	pc->syscall = __atomic_load_n(&v->syscall, __ATOMIC_RELAXED);
	pc->arch = __atomic_load_n(&v->arch, __ATOMIC_RELAXED);
}

static int dead_exit(struct proc_vm *p, struct hv_exit *ex)
{
	hv_exit_clear(ex);
	describe_death(p, ex->msg, sizeof(ex->msg));
	/* the filter kills the process for a system call from the stub's code:
	 * only a guest that jumped into the stub gets there */
	ex->reason = WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGSYS ? HV_EXIT_R_SYSCALL
									     : HV_EXIT_R_ERROR;
	return 0;
}

static int proc_vcpu_run(struct hv_vcpu *cpu, struct hv_exit *ex)
{
	struct proc_vm *p = pvm_of(cpu->vm);
	struct hv_proc_vcpu *pc = cpu->priv;
	struct hv_stub_vcpu *v = pc->slot;

	if (!pc->entered) {
		/* the thread's first trap, in the stub: it waits for the entry state */
		if (!wait_exit(p, pc))
			return dead_exit(p, ex);
		pc->entered = true;
	}
	for (;;) {
		hv_proc_complete(cpu, pc);
		regs_to_slot(&pc->regs, v);
		__atomic_store_n(&v->state, HV_STUB_ST_RUN, __ATOMIC_RELEASE);
		futex(&v->state, FUTEX_WAKE, 1, NULL);
		if (!wait_exit(p, pc))
			return dead_exit(p, ex);
		take_exit(pc);
		if (hv_proc_translate(cpu, pc, ex))
			return 0;
	}
}

static void proc_vcpu_kick(struct hv_vcpu *cpu)
{
	struct proc_vm *p = pvm_of(cpu->vm);
	struct hv_proc_vcpu *pc = cpu->priv;
	pid_t tid = (pid_t)__atomic_load_n(&pc->slot->tid, __ATOMIC_RELAXED);

	uint64_t zero = 0;

	/* the first unanswered kick starts the deadline wait_exit enforces */
	__atomic_compare_exchange_n(&pc->kick_ns, &zero, pvm_now_ns(), false, __ATOMIC_ACQ_REL,
				    __ATOMIC_RELAXED);
	/* tgkill reaches only a thread of the guest process, whatever tid says */
	if (tid > 0 && !__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE))
		syscall(SYS_tgkill, p->pid, tid, SIGUSR1);
}

static int proc_get_regs(struct hv_vcpu *cpu, struct hv_regs *regs)
{
	*regs = ((struct hv_proc_vcpu *)cpu->priv)->regs;
	return 0;
}

static int proc_set_regs(struct hv_vcpu *cpu, const struct hv_regs *regs)
{
	((struct hv_proc_vcpu *)cpu->priv)->regs = *regs;
	return 0;
}

const struct hv_platform hv_platform_process = {
    .name = "process",
    .vm_init = proc_vm_init,
    .vcpu_init = proc_vcpu_init,
    .doorbell_async = proc_doorbell_async,
    .vm_start = proc_vm_start,
    .vcpu_run = proc_vcpu_run,
    .vcpu_kick = proc_vcpu_kick,
    .get_regs = proc_get_regs,
    .set_regs = proc_set_regs,
    .tsc = proc_tsc,
    .vm_stop = proc_vm_stop,
    .vm_free = proc_vm_free,
};
