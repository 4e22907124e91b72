// SPDX-License-Identifier: MIT
/*
 * escape: one attempt to leave the guest, chosen by kind=NAME, each of which
 * the platform must turn into the end of the guest (tests/hv/test_escape.c).
 * Every attempt that would touch the host names /tmp/pvm-escape-TAG (tag=TAG
 * on the command line), so a test can tell whether it got through.
 *   syscall_open   open(path, O_CREAT|O_WRONLY, 0644) with `syscall`
 *   sysenter       the same as i386 open (eax 5) with `sysenter`
 *   int80          the same as i386 open (eax 5) with `int $0x80`
 *   execve         execve("/bin/sh", {"sh", "-c", "echo > path"})
 *   kill_parent    kill(ppid=N, SIGKILL), then kill(1, SIGKILL)
 *   ptrace         ptrace(PTRACE_TRACEME)
 *   mmap           an anonymous read/write/execute mapping
 *   mprotect_stub  mprotect(the stub's text, read/write/execute)
 * Jumps into the process platform's stub (its text is readable: the guest
 * looks for the bytes 0f 05 there and jumps to the nth=K one, default 0,
 * with the registers of a system call; a clean power-off with code 3 when
 * there is no Kth):
 *   stub_open stub_fork stub_kill stub_execve   those calls from stub code
 *   stub_write     write(3, ..., 8): 8 bytes into guest RAM's memfd
 *   stub_futex     futex(FUTEX_CMP_REQUEUE)
 *   stub_sigmask   (2 vCPUs) vCPU 1 goes through rt_sigreturn, which the
 *                  stub must allow, with a frame that blocks SIGUSR1 (the
 *                  VMM's kick) and spins; vCPU 0 then executes ud2, or with
 *                  then=stop waits for the host's stop and powers off
 * Memory: write_boot (the read-only boot-info page), write_stub (the stub's
 * text), read_outside (at=0: the page below the shared area, at=1:
 * 0x50000000000).
 * An attempt that comes back prints "escape: KIND was not stopped" and ends
 * with code 99.
 */
#include "guest/guest.h"
#include "hv/stub/stub_abi.h"

#define NR_WRITE	   1
#define NR_OPEN		   2
#define NR_MMAP		   9
#define NR_MPROTECT	   10
#define NR_RT_SIGRETURN	   15
#define NR_FORK		   57
#define NR_EXECVE	   59
#define NR_KILL		   62
#define NR_PTRACE	   101
#define NR_FUTEX	   202
#define NR_I386_OPEN	   5
#define O_WRONLY	   01
#define O_CREAT		   0100
#define SIGKILL		   9
#define SIGUSR1		   10
#define FUTEX_CMP_REQUEUE  4
#define PROT_RWX	   7
#define MAP_PRIVATE_ANON   0x22
#define USER_CS		   0x33
#define USER_DS		   0x2b
#define ESCAPE_NOT_STOPPED 99
#define ESCAPE_NO_SITE	   3

static char kind[24], tag[32];
static char path[64], script[96];
static char sh[] = "/bin/sh", sh0[] = "sh", dash_c[] = "-c";
static char *sh_argv[4], *sh_envp[1];
static uint64_t ppid;

static long sys6(long n, long a, long b, long c, long d, long e, long f)
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

static long int80(long n, uint32_t b, uint32_t c, uint32_t d)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(n), "b"(b), "c"(c), "d"(d)
			 : "r8", "r9", "r10", "r11", "memory");
	return ret;
}

/* The i386 fast system call: the kernel takes the user stack from %ebp. */
static long sysenter(long n, uint32_t b, uint32_t c, uint32_t d)
{
	long ret;

	__asm__ volatile("push %%rbp\n"
			 "mov %%rsp, %%rbp\n"
			 "sysenter\n"
			 "pop %%rbp\n"
			 : "=a"(ret)
			 : "a"(n), "b"(b), "c"(c), "d"(d)
			 : "r8", "r9", "r10", "r11", "memory");
	return ret;
}

/* The nth 0f 05 in the stub's first text page (its text is smaller). */
static uint64_t stub_site(unsigned int nth)
{
	const volatile uint8_t *t = (const volatile uint8_t *)(uintptr_t)HV_STUB_TEXT_GVA;
	unsigned int seen = 0;

	for (unsigned int i = 0; i + 1 < 4096; i++)
		if (t[i] == 0x0f && t[i + 1] == 0x05 && seen++ == nth)
			return HV_STUB_TEXT_GVA + i;
	return 0;
}

/* Into the stub at site with the registers of system call n (and rsp, when not 0). */
static __attribute__((noreturn)) void jump(uint64_t site, long n, long a, long b, long c, long d,
					   uint64_t sp)
{
	register long r10 __asm__("r10") = d;

	if (sp)
		__asm__ volatile("mov %[sp], %%rsp\n"
				 "jmp *%[t]\n"
				 :
				 : [t] "b"(site), [sp] "r"(sp), "a"(n), "D"(a), "S"(b), "d"(c),
				   "r"(r10)
				 : "memory");
	else
		__asm__ volatile("jmp *%[t]\n"
				 :
				 : [t] "b"(site), "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
				 : "memory");
	__builtin_unreachable();
}

/* ---- stub_sigmask: rt_sigreturn with a crafted frame -------------------- */

/*
 * An rt_sigframe as the kernel reads it at rsp - 8: the restorer's return
 * address, then the ucontext (flags, link, stack_t, sigcontext, sigmask).
 */
struct k_frame {
	uint64_t pretcode;
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp, ss_flags, ss_size;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate, rsvd[8];
	uint64_t sigmask;
	uint8_t siginfo[128];
};

static struct k_frame frame __attribute__((aligned(64)));
static uint8_t spin_stack[4096] __attribute__((aligned(16)));
static volatile uint32_t masked;

static __attribute__((used, noreturn)) void spin_masked(void)
{
	__atomic_store_n(&masked, 1, __ATOMIC_RELEASE);
	for (;;)
		guest_pause();
}

static __attribute__((noreturn)) void sigmask_attempt(unsigned int vcpu)
{
	uint64_t site = stub_site(0);

	frame = (struct k_frame){
	    .ss_sp = HV_STUB_SHARED_GVA + HV_STUB_VCPU_SIZE * (1 + vcpu) + HV_STUB_SIGSTK_OFF,
	    .ss_size = HV_STUB_SIGSTK_LEN,
	    .rsp = (uint64_t)(uintptr_t)(spin_stack + sizeof(spin_stack) - 8),
	    .rip = (uint64_t)(uintptr_t)spin_masked,
	    .eflags = 0x202,
	    .cs = USER_CS,
	    .ss = USER_DS,
	    .sigmask = 1ull << (SIGUSR1 - 1),
	};
	jump(site, NR_RT_SIGRETURN, 0, 0, 0, 0, (uint64_t)(uintptr_t)&frame.uc_flags);
}

void guest_secondary(unsigned int vcpu)
{
	guest_arg("kind", kind, sizeof(kind));
	if (vcpu == 1 && !memcmp(kind, "stub_sigmask", 13))
		sigmask_attempt(vcpu);
	while (!(guest_boot->host_flags & PV_BOOT_F_STOP))
		guest_pause();
}

/* ---- the attempts ------------------------------------------------------- */

static bool is(const char *k)
{
	return !memcmp(kind, k, strlen(k) + 1);
}

static int stub_attempt(void)
{
	unsigned int nth = (unsigned int)guest_arg_u64("nth", 0);
	uint64_t site = stub_site(nth), zero = 0;

	if (!site) {
		guest_printf("escape: no syscall #%u in the stub's text\n", nth);
		return ESCAPE_NO_SITE;
	}
	guest_printf("escape: %s through syscall #%u of the stub at 0x%llx (%s)\n", kind, nth,
		     (unsigned long long)site, path);
	if (is("stub_open"))
		jump(site, NR_OPEN, (long)path, O_CREAT | O_WRONLY, 0644, 0, 0);
	if (is("stub_fork"))
		jump(site, NR_FORK, 0, 0, 0, 0, 0);
	if (is("stub_kill"))
		jump(site, NR_KILL, (long)ppid, SIGKILL, 0, 0, 0);
	if (is("stub_execve"))
		jump(site, NR_EXECVE, (long)sh, (long)sh_argv, (long)sh_envp, 0, 0);
	if (is("stub_write"))
		jump(site, NR_WRITE, HV_STUB_FD_RAM, (long)&zero, 8, 0, 0);
	if (is("stub_futex"))
		jump(site, NR_FUTEX, (long)&masked, FUTEX_CMP_REQUEUE, 1, 1, 0);
	guest_printf("escape: unknown kind '%s'\n", kind);
	return 64;
}

static int sigmask_main(void)
{
	uint64_t t0 = guest_time_ns();
	char then[8];

	if (guest_boot->vcpus < 2) {
		guest_printf("escape: stub_sigmask needs 2 vcpus\n");
		return 64;
	}
	while (!__atomic_load_n(&masked, __ATOMIC_ACQUIRE) && guest_time_ns() - t0 < 2000000000ull)
		guest_pause();
	if (!masked) {
		guest_printf("escape: vcpu 1 did not get through rt_sigreturn\n");
		return 65;
	}
	if (guest_arg("then", then, sizeof(then)) == 0 && !memcmp(then, "stop", 5)) {
		guest_printf(
		    "escape: vcpu 1 spins with SIGUSR1 blocked; vcpu 0 waits for a stop\n");
		while (!(guest_boot->host_flags & PV_BOOT_F_STOP))
			guest_pause();
		return 0;
	}
	guest_printf("escape: vcpu 1 spins with SIGUSR1 blocked; ud2 on vcpu 0\n");
	__asm__ volatile("ud2");
	return ESCAPE_NOT_STOPPED;
}

static long attempt(void)
{
	uint64_t v = 0;

	if (is("syscall_open"))
		return sys6(NR_OPEN, (long)path, O_CREAT | O_WRONLY, 0644, 0, 0, 0);
	if (is("sysenter"))
		return sysenter(NR_I386_OPEN, (uint32_t)(uintptr_t)path, O_CREAT | O_WRONLY, 0644);
	if (is("int80"))
		return int80(NR_I386_OPEN, (uint32_t)(uintptr_t)path, O_CREAT | O_WRONLY, 0644);
	if (is("execve"))
		return sys6(NR_EXECVE, (long)sh, (long)sh_argv, (long)sh_envp, 0, 0, 0);
	if (is("kill_parent")) {
		long r = sys6(NR_KILL, (long)ppid, SIGKILL, 0, 0, 0, 0);

		return r | sys6(NR_KILL, 1, SIGKILL, 0, 0, 0, 0);
	}
	if (is("ptrace"))
		return sys6(NR_PTRACE, 0, 0, 0, 0, 0, 0);
	if (is("mmap"))
		return sys6(NR_MMAP, 0, 4096, PROT_RWX, MAP_PRIVATE_ANON, -1, 0);
	if (is("mprotect_stub"))
		return sys6(NR_MPROTECT, (long)HV_STUB_TEXT_GVA, 4096, PROT_RWX, 0, 0, 0);
	if (is("write_boot")) {
		__asm__ volatile("movl %1, (%0)" : : "r"(guest_boot), "r"(0x5a5a5a5a) : "memory");
		return 0;
	}
	if (is("write_stub")) {
		__asm__ volatile("movl %1, (%0)"
				 :
				 : "r"(HV_STUB_TEXT_GVA), "r"(0x5a5a5a5a)
				 : "memory");
		return 0;
	}
	if (is("read_outside")) {
		uint64_t a = guest_arg_u64("at", 0) ? 0x50000000000ull : HV_STUB_SHARED_GVA - 4096;

		__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a) : "memory");
		return (long)v;
	}
	return -1000;
}

int guest_main(void)
{
	long r;

	guest_arg("kind", kind, sizeof(kind));
	if (guest_arg("tag", tag, sizeof(tag)) || !tag[0])
		memcpy(tag, "none", 5);
	for (char *c = tag; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '_'))
			*c = '_';
	guest_snprintf(path, sizeof(path), "/tmp/pvm-escape-%s", tag);
	guest_snprintf(script, sizeof(script), "echo escaped > %s", path);
	sh_argv[0] = sh0;
	sh_argv[1] = dash_c;
	sh_argv[2] = script;
	ppid = guest_arg_u64("ppid", 1);
	if (!memcmp(kind, "stub_sigmask", 13))
		return sigmask_main();
	if (!memcmp(kind, "stub_", 5))
		return stub_attempt();
	guest_printf("escape: %s (%s)\n", kind, path);
	r = attempt();
	if (r == -1000) {
		guest_printf("escape: unknown kind '%s'\n", kind);
		return 64;
	}
	guest_printf("escape: %s was not stopped (returned %lld)\n", kind, (long long)r);
	return ESCAPE_NOT_STOPPED;
}
