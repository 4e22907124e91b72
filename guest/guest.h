/* SPDX-License-Identifier: MIT */
/*
 * guest: the freestanding SDK of pvm microguests (no libc). A workload
 * defines guest_main(); the SDK's entry parses the command line, runs it on
 * vCPU 0 and powers off with its return value. Other vCPUs run
 * guest_secondary() (weak; the default idles until the host asks to stop).
 *
 * Every service has a pv path (hooks, negotiated through guest_pv_init) and
 * an emulated twin (UART, port-I/O block device, PIT); guest_pv says which.
 */
#ifndef PVM_GUEST_H
#define PVM_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/pv_abi.h"

extern const volatile struct pv_boot_info *guest_boot;
extern bool guest_pv;		      /* mode=pv on the command line */
extern struct pv_hook_page *guest_hp; /* NULL until negotiated */

int guest_main(void);
void guest_secondary(unsigned int vcpu);
__attribute__((noreturn)) void guest_poweroff(uint32_t code);

/* ---- port I/O and CPU ------------------------------------------------- */

static inline void guest_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void guest_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t guest_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t guest_inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t guest_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void guest_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

#define guest_barrier() __asm__ volatile("" ::: "memory")

/* ---- strings and formatting ------------------------------------------- */

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int guest_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int guest_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int guest_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Command line "key=value key2=value2": copies value into buf; -1 if absent. */
int guest_arg(const char *key, char *buf, size_t n);
uint64_t guest_arg_u64(const char *key, uint64_t def);

/* A xorshift generator, for workloads that need reproducible noise. */
uint64_t guest_rand(uint64_t *state);

/* ---- pv negotiation and rings ----------------------------------------- */

/*
 * Negotiates `features` (a subset of guest_boot->offered) with the ABI
 * version `version`, registering the SDK's hook page and rings. Returns the
 * PV_REASON_* answer (PV_REASON_OK on success).
 */
uint32_t guest_pv_negotiate(uint64_t features, uint32_t version);
/* Negotiates at PV_ABI_VERSION and prints why on refusal; 0 or -1. */
int guest_pv_init(uint64_t features);
void guest_pv_reset(void);
/* Rings hook's doorbell and waits until the host has served it. */
void guest_pv_kick(uint32_t hook);
/* One step of waiting for the host (*spins starts at 0): a pause, and now
 * and then a short halt hint when the halt hook is negotiated, so a guest
 * waiting on a ring leaves a busy host's CPU to the VMM thread that serves
 * it. */
void guest_pv_relax(uint32_t *spins);
/* Rings hook's doorbell and goes on (the host serves it asynchronously). */
void guest_pv_notify(uint32_t hook);
/* The SDK's ring for PV_RING_*, to post descriptors on. */
struct guest_ring {
	volatile struct pv_ring_hdr *hdr;
	volatile struct pv_desc *desc;
	uint32_t size;
};
struct guest_ring *guest_ring(uint32_t ring);
/* Posts one descriptor (waits for room); returns its slot. */
volatile struct pv_desc *guest_ring_post(struct guest_ring *r, uint64_t addr, uint32_t len,
					 uint16_t op, uint64_t sector);
/* Waits until the host has consumed everything posted on r. */
void guest_ring_wait(struct guest_ring *r);

/* ---- services (pv or emulated twin by guest_pv) ----------------------- */

void guest_console_write(const void *buf, size_t len);
void guest_console_flush(void);
/* Reads or writes len bytes (a multiple of 512) at sector; 0 or -1. */
int guest_block_rw(bool write, uint64_t sector, void *buf, size_t len);
/* Monotonic nanoseconds: the clock page in pv mode, the PIT otherwise. */
uint64_t guest_time_ns(void);
/*
 * For measuring a workload, not a service under test: the clock page when
 * negotiated (in emulated mode too, with timer=page on the command line,
 * which negotiates the clock hook alone), else guest_time_ns().
 */
uint64_t guest_stopwatch_ns(void);
/* Publishes a workload's duration in the hook page (host stats: guest.work_ns). */
void guest_work_report(uint64_t ns);
/* Agent channel: sends len bytes; receives up to n bytes (0 when none yet). */
int guest_agent_send(const void *buf, size_t len);
size_t guest_agent_recv(void *buf, size_t n);
/* Halt hint: lets the host idle this vCPU for up to us microseconds. */
void guest_halt(uint32_t us);

/* ---- the guest agent (agent/ over the agent-channel hook) ------------- */

/*
 * A workload that states GUEST_AGENT("name") at file scope runs the agent
 * (docs/agent-protocol.md) in pv mode: guest_pv_init then also negotiates
 * the agent and clock hooks when the host offers them (agent=off on the
 * command line leaves them out; agent=on runs it in emulated mode too, over
 * those two hooks alone) and starts it. It sends hello and the
 * negotiation result at once, reports every agent_ms (default 1000) ms the
 * calls, rdtsc cycles, bytes and errors of the console, block and clock
 * hooks the SDK served plus the workload's counters, and heartbeats; the
 * final report and BYE go out at power-off. The SDK's services poll it when
 * a frame is due; a workload that computes without them calls
 * guest_agent_poll between batches. vCPU 0 only. Without the agent hook
 * (emulated mode, --hooks none) all of this is a no-op.
 */
#define GUEST_AGENT(name) const char guest_agent_name[] = name
extern const char guest_agent_name[];
extern uint64_t guest_agent_due_tsc; /* 0 while the agent is not running */

bool guest_agent_running(void);
void guest_agent_poll(void);
/* The host asked for a graceful shutdown: the SDK powers off (code 0) once
 * the agent has said BYE; a workload may check this to end early. */
bool guest_agent_shutdown_requested(void);
/* Sets a workload counter ([a-z0-9_.], up to 31 bytes) for the reports. */
void guest_agent_counter(const char *name, uint64_t value);

static inline void guest_agent_tick(void)
{
	if (guest_agent_due_tsc && guest_rdtsc() >= guest_agent_due_tsc)
		guest_agent_poll();
}

/*
 * SDK internals. The services count their hook use here with plain adds
 * (the agent turns it into reports), so the hot paths carry no lookups:
 * console and block calls and bytes per call, cycles (rdtsc) around the
 * ring posts, doorbells and waits; clock reads are counted in the hook page
 * and their cycles sampled on one read in 64 and scaled, because a second
 * rdtsc on every read would double the cost of a read.
 */
struct guest_hook_count {
	uint64_t calls, cycles, bytes, errors;
};
extern struct guest_hook_count guest_hook_counts[PV_HOOK_COUNT];
extern uint64_t guest_block_bytes_written, guest_block_bytes_read;
/* guest_pv_init starts the agent, guest_poweroff ends it. */
bool guest_agent_wanted(void);
void guest_agent_start(void);
void guest_agent_finish(void);

#endif /* PVM_GUEST_H */
