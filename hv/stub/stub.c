// SPDX-License-Identifier: MIT
/*
 * pvm-stub: the process platform's guest process. pvm-vmm executes it from a
 * sealed memfd with the descriptors of stub_abi.h and nothing else. It maps
 * guest RAM at its guest-physical addresses, unmaps what the kernel gave it
 * (vDSO, vvar, its first stack), starts one thread per vCPU, confines itself
 * (no_new_privs, rlimits, the seccomp filter below) and lets each thread
 * trap: from then on every signal a vCPU thread takes is an exit, posted to
 * its slot of the shared area, and the VMM's answer is what sigreturn
 * resumes.
 *
 * Written as if attacked: the guest shares this address space, can write
 * the shared area and this program's stacks, and can jump into any of its
 * instructions with registers it chose. The filter is the boundary: it lets
 * code at this program's addresses make futex wait/wake, rt_sigreturn,
 * exit_group, and 8-byte writes to the doorbell eventfds; anything else from here
 * kills the process, and any system call from anywhere else (syscall,
 * sysenter, int $0x80) traps and ends the guest as a fault.
 * Freestanding: no libc, no vDSO.
 */
#include <stddef.h>
#include <stdint.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>

#include "hv/stub/stub_abi.h"

#define NR_READ		  0
#define NR_WRITE	  1
#define NR_OPEN		  2
#define NR_CLOSE	  3
#define NR_FSTAT	  5
#define NR_MMAP		  9
#define NR_MUNMAP	  11
#define NR_RT_SIGACTION	  13
#define NR_RT_SIGPROCMASK 14
#define NR_RT_SIGRETURN	  15
#define NR_SIGALTSTACK	  131
#define NR_CLONE	  56
#define NR_PRCTL	  157
#define NR_GETTID	  186
#define NR_FUTEX	  202
#define NR_EXIT_GROUP	  231
#define NR_PRLIMIT64	  302
#define NR_SECCOMP	  317

#define PROT_READ	    1
#define PROT_WRITE	    2
#define PROT_EXEC	    4
#define MAP_SHARED	    1
#define MAP_FIXED_NOREPLACE 0x100000
#define CLONE_THREADS                                                                              \
	(0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000) /* VM FS FILES SIGHAND THREAD SYSVSEM  \
							     */
#define PR_SET_NO_NEW_PRIVS 38
#define PR_SET_DUMPABLE	    4
#define SA_SIGINFO	    4
#define SA_ONSTACK	    0x08000000
#define SA_RESTORER	    0x04000000

#define SIGTRAP_ 5
#define SIGSEGV_ 11
#define SIGUSR1_ 10
#define SIGBUS_	 7
#define SIGFPE_	 8
#define SIGILL_	 4
#define SIGSYS_	 31

/* kernel ABI, x86-64 */
struct k_sigaction {
	void (*handler)(int, void *, void *);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

struct k_stack {
	void *sp;
	int flags;
	unsigned long size;
};

struct k_sigcontext {
	uint64_t regs[HV_STUB_NREGS]; /* r8 .. rip, eflags: stub_abi.h order */
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t rsvd[8];
};

struct k_ucontext {
	unsigned long flags;
	void *link;
	struct k_stack stack;
	struct k_sigcontext mc;
};

struct k_siginfo {
	int signo, errno_, code, pad;
	union {
		void *addr; /* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP */
		struct {
			void *call_addr;
			int syscall;
			unsigned int arch;
		} sys;
	};
};

struct k_rlimit {
	uint64_t cur, max;
};

#define RLIMIT_FSIZE   1
#define RLIMIT_CORE    4
#define RLIMIT_NPROC   6
#define RLIMIT_NOFILE  7
#define RLIMIT_MEMLOCK 8

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static __attribute__((noreturn)) void die(long code)
{
	for (;;)
		sys6(NR_EXIT_GROUP, code, 0, 0, 0, 0, 0);
}

static struct hv_stub_setup *const setup = (struct hv_stub_setup *)HV_STUB_SHARED_GVA;

static struct hv_stub_vcpu *slot(unsigned int i)
{
	return (struct hv_stub_vcpu *)(HV_STUB_SHARED_GVA + HV_STUB_VCPU_SIZE * (1 + i));
}

/* A setup step failed: say which, with what, and end (the VMM reads both). */
static __attribute__((noreturn)) void fail(uint32_t step, long err)
{
	if (setup->magic == HV_STUB_MAGIC) {
		__atomic_store_n(&setup->error, (int32_t)err, __ATOMIC_RELAXED);
		__atomic_store_n(&setup->ready, step, __ATOMIC_RELEASE);
		sys6(NR_FUTEX, (long)&setup->ready, FUTEX_WAKE, 1, 0, 0, 0);
	}
	die(100 + step);
}

static void futex_wait(uint32_t *w, uint32_t v)
{
	sys6(NR_FUTEX, (long)w, FUTEX_WAIT, v, 0, 0, 0);
}

static void futex_wake(uint32_t *w)
{
	sys6(NR_FUTEX, (long)w, FUTEX_WAKE, 1, 0, 0, 0);
}

/* ---- the exit path ------------------------------------------------------ */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

extern __attribute__((visibility("hidden"))) void stub_restorer(void);
__asm__(".text\n"
	".globl stub_restorer\n"
	"stub_restorer:\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"	ud2\n");

/*
 * A doorbell of an asynchronous hook (`out %eax, %dx`, dx = the doorbell
 * port) is the guest's only frequent trap that needs no answer: signal the
 * hook's eventfd and step over it, without waking the VMM's vCPU thread.
 */
static int doorbell(struct hv_stub_vcpu *v, struct k_sigcontext *mc)
{
	uint64_t rip = mc->regs[HV_STUB_RIP], one = 1;
	uint32_t hook = (uint32_t)mc->regs[HV_STUB_RAX];

	if (rip < setup->ram_start || rip >= setup->ram_end || *(const uint8_t *)rip != 0xef ||
	    (mc->regs[HV_STUB_RDX] & 0xffff) != setup->doorbell_port || hook >= setup->hooks ||
	    !(setup->async_mask & (1ull << hook)))
		return 0;
	if (sys3(NR_WRITE, HV_STUB_FD_DOORBELL + hook, &one, 8) != 8)
		return 0;
	mc->regs[HV_STUB_RIP] = rip + 1;
	v->doorbells++;
	return 1;
}

static void on_signal(int sig, void *info, void *ctx)
{
	struct k_siginfo *si = info;
	struct k_ucontext *uc = ctx;
	struct k_sigcontext *mc = &uc->mc;
	uint64_t sp = (uint64_t)__builtin_frame_address(0);
	struct hv_stub_vcpu *v;
	uint64_t t0;
	uint32_t st;
	unsigned int i;

	/* which vCPU: the signal stack this handler runs on */
	i = (unsigned int)((sp - HV_STUB_SHARED_GVA) / HV_STUB_VCPU_SIZE) - 1;
	if (sp < HV_STUB_SHARED_GVA || i >= HV_STUB_MAX_VCPUS)
		die(120);
	v = slot(i);
	if (sig == SIGSEGV_ && si->code == 0x80 && mc->trapno == 13 && doorbell(v, mc))
		return;
	v->signo = sig;
	v->code = si->code;
	v->addr = (uint64_t)si->addr;
	v->syscall = sig == SIGSYS_ ? si->sys.syscall : 0;
	v->arch = sig == SIGSYS_ ? si->sys.arch : 0;
	v->trapno = mc->trapno;
	v->err = mc->err;
	v->exits++;
	for (unsigned int r = 0; r < HV_STUB_NREGS; r++)
		v->regs[r] = mc->regs[r];
	__atomic_store_n(&v->state, HV_STUB_ST_EXIT, __ATOMIC_RELEASE);
	futex_wake(&v->state);
	/*
	 * Most answers take a microsecond, and waiting for one beats sleeping
	 * and being woken, but only while the VMM's thread is on a CPU: it
	 * takes the exit (TAKEN) within the short window when it is; if it
	 * does not, this thread gives its CPU up.
	 */
	t0 = rdtsc();
	while ((st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE)) == HV_STUB_ST_EXIT &&
	       rdtsc() - t0 < setup->spin_cycles / 8)
		__builtin_ia32_pause();
	while (st == HV_STUB_ST_TAKEN && rdtsc() - t0 < setup->spin_cycles) {
		__builtin_ia32_pause();
		st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE);
	}
	while ((st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE)) == HV_STUB_ST_EXIT ||
	       st == HV_STUB_ST_TAKEN)
		futex_wait(&v->state, st);
	if (st != HV_STUB_ST_RUN)
		die(121);
	/* segments, the signal mask and the FPU state stay the kernel's */
	for (unsigned int r = 0; r < HV_STUB_NREGS; r++)
		mc->regs[r] = v->regs[r];
}

/* ---- setup -------------------------------------------------------------- */

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static uint64_t hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

/*
 * Everything the kernel mapped for us but the stub's own image: [vdso],
 * [vvar] (and its siblings), [stack]. The stack is unmapped later, from
 * vCPU 0's own stack.
 */
static char maps_buf[32768];
static uint64_t old_stack_lo, old_stack_hi;

static void unmap_kernel_gifts(void)
{
	long fd = sys3(NR_OPEN, "/proc/self/maps", 0, 0), n, len = 0;
	char *line;

	if (fd < 0)
		fail(3, fd);
	while (len < (long)sizeof(maps_buf) - 1 &&
	       (n = sys3(NR_READ, fd, maps_buf + len, sizeof(maps_buf) - 1 - (size_t)len)) > 0)
		len += n;
	sys3(NR_CLOSE, fd, 0, 0);
	maps_buf[len] = 0;
	for (line = maps_buf; *line;) {
		const char *p = line, *name;
		uint64_t lo = hex(&p), hi;
		char *end = line;

		p++;
		hi = hex(&p);
		while (*end && *end != '\n')
			end++;
		name = end;
		while (name > line && name[-1] != ' ')
			name--;
		if (*end)
			*end++ = 0;
		line = end;
		if (streq(name, "[stack]")) {
			old_stack_lo = lo;
			old_stack_hi = hi;
		} else if (name[0] == '[' && !streq(name, "[vsyscall]") && !streq(name, "[heap]")) {
			/* [vdso], [vvar], [vvar_vclock]: time the guest must not read from us */
			sys3(NR_MUNMAP, lo, hi - lo, 0);
		}
	}
}

static void set_rlimit(int res, uint64_t v)
{
	struct k_rlimit r = {v, v};

	sys6(NR_PRLIMIT64, 0, res, (long)&r, 0, 0, 0);
}

static void map_guest(void)
{
	long r;

	r = sys6(NR_MMAP, (long)setup->ram_start, (long)(setup->ram_end - setup->ram_start),
		 PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 HV_STUB_FD_RAM, (long)setup->ram_start);
	if (r != (long)setup->ram_start)
		fail(4, r);
	r = sys6(NR_MMAP, (long)setup->boot_gpa, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
		 HV_STUB_FD_RAM, (long)setup->boot_gpa);
	if (r != (long)setup->boot_gpa)
		fail(5, r);
}

static void install_handlers(void)
{
	static const int sigs[] = {SIGSEGV_, SIGBUS_, SIGILL_, SIGFPE_,
				   SIGTRAP_, SIGSYS_, SIGUSR1_};
	struct k_sigaction sa = {
	    .handler = on_signal,
	    .flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
	    .restorer = stub_restorer,
	    .mask = ~0ull, /* nothing nests: a fault inside the handler ends the process */
	};

	for (unsigned int i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		long r = sys6(NR_RT_SIGACTION, sigs[i], (long)&sa, 0, 8, 0, 0);

		if (r)
			fail(6, r);
	}
}

/*
 * The filter. seccomp_data: nr at 0, arch at 4, instruction_pointer at 8,
 * args[i] at 16 + 8 i (little-endian: the low word first).
 */
#define LD(off)		 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, at, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t) - (at)-1, (f) - (at)-1)
#define JGE(k, at, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t) - (at)-1, (f) - (at)-1)
#define RET(v)		 BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i)	 (16 + 8 * (i))
#define ARG_HI(i)	 (20 + 8 * (i))
#define L_ALLOW		 31
#define L_TRAP		 32
#define L_KILL		 33

static void confine(void)
{
	const uint32_t lo = (uint32_t)HV_STUB_TEXT_GVA, hi = (uint32_t)(HV_STUB_TEXT_GVA >> 32);
	struct sock_filter f[] = {
	    /* 0 */ LD(12),
	    /* 1 */ JEQ(hi, 1, 2, L_TRAP),
	    /* 2 */ LD(8),
	    /* 3 */ JGE(lo, 3, 4, L_TRAP),
	    /* 4 */ JGE(lo + (uint32_t)HV_STUB_TEXT_MAX, 4, L_TRAP, 5),
	    /* the stub's own instructions: the allow-list, anything else kills */
	    /* 5 */ LD(4),
	    /* 6 */ JEQ(AUDIT_ARCH_X86_64, 6, 7, L_KILL),
	    /* 7 */ LD(0),
	    /* 8 */ JEQ(NR_FUTEX, 8, 14, 9),
	    /* 9 */ JEQ(NR_RT_SIGRETURN, 9, L_ALLOW, 10),
	    /* 10 */ JEQ(NR_WRITE, 10, 20, 11),
	    /* 11 */ JEQ(NR_EXIT_GROUP, 11, L_ALLOW, L_KILL),
	    /* 12 */ RET(SECCOMP_RET_KILL_PROCESS),
	    /* 13 */ RET(SECCOMP_RET_KILL_PROCESS),
	    /* futex: FUTEX_WAIT or FUTEX_WAKE only (shared, no requeue, no PI) */
	    /* 14 */ LD(ARG_HI(1)),
	    /* 15 */ JEQ(0, 15, 16, L_KILL),
	    /* 16 */ LD(ARG_LO(1)),
	    /* 17 */ JEQ(FUTEX_WAIT, 17, L_ALLOW, 18),
	    /* 18 */ JEQ(FUTEX_WAKE, 18, L_ALLOW, L_KILL),
	    /* 19 */ RET(SECCOMP_RET_KILL_PROCESS),
	    /* write: 8 bytes to a doorbell eventfd */
	    /* 20 */ LD(ARG_HI(0)),
	    /* 21 */ JEQ(0, 21, 22, L_KILL),
	    /* 22 */ LD(ARG_LO(0)),
	    /* 23 */ JGE(HV_STUB_FD_DOORBELL, 23, 24, L_KILL),
	    /* 24 */ JGE(HV_STUB_FD_NR, 24, L_KILL, 25),
	    /* 25 */ LD(ARG_HI(2)),
	    /* 26 */ JEQ(0, 26, 27, L_KILL),
	    /* 27 */ LD(ARG_LO(2)),
	    /* 28 */ JEQ(8, 28, L_ALLOW, L_KILL),
	    /* 29 */ RET(SECCOMP_RET_KILL_PROCESS),
	    /* 30 */ RET(SECCOMP_RET_KILL_PROCESS),
	    /* 31 */ RET(SECCOMP_RET_ALLOW),
	    /* the guest's: every system call, any arch, is an exit (SIGSYS) */
	    /* 32 */ RET(SECCOMP_RET_TRAP),
	    /* 33 */ RET(SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	long r;

	_Static_assert(sizeof(f) / sizeof(f[0]) == L_KILL + 1, "filter labels");
	r = sys6(NR_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	if (r)
		fail(9, r);
	r = sys6(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (long)&prog, 0, 0,
		 0);
	if (r)
		fail(10, r);
}

static uint32_t threads_ready;

/* Every vCPU thread, before the filter: its signal stack and its id. */
static void vcpu_prepare(unsigned int i)
{
	struct hv_stub_vcpu *v = slot(i);
	struct k_stack ss = {
	    .sp = (char *)v + HV_STUB_SIGSTK_OFF,
	    .size = HV_STUB_SIGSTK_LEN,
	};
	long r = sys3(NR_SIGALTSTACK, &ss, 0, 0);

	if (r)
		fail(7, r);
	v->tid = (uint32_t)sys3(NR_GETTID, 0, 0, 0);
}

/* Then, once confined, the first trap: the VMM answers it with the entry state. */
static __attribute__((noreturn)) void vcpu_go(void)
{
	while (__atomic_load_n(&setup->ready, __ATOMIC_ACQUIRE) != HV_STUB_READY)
		sys6(NR_FUTEX, (long)&setup->ready, FUTEX_WAIT, (long)setup->ready, 0, 0, 0);
	for (;;)
		__asm__ volatile("int3");
}

__asm__(".text\n"
	"thread_entry:\n"
	"	mov %r12d, %edi\n"
	"	call vcpu_main_c\n"
	"	ud2\n");

__attribute__((used, noreturn)) void vcpu_main_c(unsigned int i)
{
	vcpu_prepare(i);
	__atomic_fetch_add(&threads_ready, 1, __ATOMIC_RELEASE);
	futex_wake(&threads_ready);
	vcpu_go();
}

/* clone: the child starts on its own stack with r12 = vCPU index */
static long start_thread(unsigned int i)
{
	uint64_t *sp = (uint64_t *)((char *)slot(i) + HV_STUB_SIGSTK_OFF);
	long ret;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	register long r12 __asm__("r12") = i;

	__asm__ volatile("syscall\n"
			 "test %%rax, %%rax\n"
			 "jnz 1f\n"
			 "xor %%ebp, %%ebp\n"
			 "jmp thread_entry\n"
			 "1:\n"
			 : "=a"(ret)
			 : "a"(NR_CLONE), "D"(CLONE_THREADS), "S"(sp), "d"(0), "r"(r10), "r"(r8),
			   "r"(r12)
			 : "rcx", "r11", "memory");
	return ret;
}

/* On vCPU 0's stack: the last of setup, then vCPU 0 itself. */
__attribute__((used, noreturn)) void stub_finish(void)
{
	unsigned int n = setup->nvcpus;
	uint32_t seen;

	if (old_stack_hi)
		sys3(NR_MUNMAP, old_stack_lo, old_stack_hi - old_stack_lo, 0);
	for (unsigned int i = 1; i < n; i++) {
		long r = start_thread(i);

		if (r < 0)
			fail(8, r);
	}
	/* every other thread has its signal stack before the filter forbids it */
	while ((seen = __atomic_load_n(&threads_ready, __ATOMIC_ACQUIRE)) != n - 1)
		futex_wait(&threads_ready, seen);
	vcpu_prepare(0);
	set_rlimit(RLIMIT_NPROC, 0);
	confine();
	__atomic_store_n(&setup->ready, HV_STUB_READY, __ATOMIC_RELEASE);
	sys6(NR_FUTEX, (long)&setup->ready, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
	vcpu_go();
}

__attribute__((used, noreturn)) void stub_main(void)
{
	long r;
	struct {
		uint64_t dev, ino, nlink;
		uint32_t mode, uid, gid, pad;
		uint64_t rdev;
		int64_t size;
		uint64_t rest[12];
	} st;

	r = sys3(NR_FSTAT, HV_STUB_FD_SHARED, &st, 0);
	if (r)
		die(101);
	r = sys6(NR_MMAP, (long)HV_STUB_SHARED_GVA, st.size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, HV_STUB_FD_SHARED, 0);
	if (r != (long)HV_STUB_SHARED_GVA)
		die(102);
	if (setup->magic != HV_STUB_MAGIC || setup->version != HV_STUB_VERSION ||
	    setup->nvcpus < 1 || setup->nvcpus > HV_STUB_MAX_VCPUS ||
	    (uint64_t)st.size < HV_STUB_VCPU_SIZE * (1 + setup->nvcpus))
		fail(2, -22);
	sys6(NR_PRCTL, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
	map_guest();
	unmap_kernel_gifts();
	set_rlimit(RLIMIT_CORE, 0);
	set_rlimit(RLIMIT_FSIZE, 0);
	set_rlimit(RLIMIT_MEMLOCK, 0);
	set_rlimit(RLIMIT_NOFILE, HV_STUB_FD_NR);
	install_handlers();
	/* leave the kernel's stack for vCPU 0's, so that stack can go */
	__asm__ volatile("mov %0, %%rsp\n"
			 "xor %%ebp, %%ebp\n"
			 "call stub_finish\n"
			 :
			 : "r"((char *)slot(0) + HV_STUB_SIGSTK_OFF - 16)
			 : "memory");
	__builtin_unreachable();
}

__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call stub_main\n"
	"	ud2\n"
	".previous\n");
