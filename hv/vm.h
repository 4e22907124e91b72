/* SPDX-License-Identifier: MIT */
/* hv internals shared by the VMM's files; not part of the public API. */
#ifndef PVM_HV_VM_H
#define PVM_HV_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "hv/hv.h"
#include "hv/platform.h"

#define HV_STAT_ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define HV_STAT_GET(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* ---- guest memory layout below PV_IMAGE_MIN (see boot.c) -------------- */
#define HV_PML4_GPA	 0x2000ull
#define HV_PDPT_GPA	 0x3000ull
#define HV_PD_GPA	 0x4000ull /* 4 pages: up to 4 GiB of 2 MiB pages */
#define HV_PT_GPA	 0x8000ull /* 4 KiB pages of the first 2 MiB */
#define HV_GDT_GPA	 0x9000ull
#define HV_TSS_GPA	 0x10000ull /* per vCPU: TSS + all-zero I/O bitmap */
#define HV_TSS_SIZE	 0x3000ull
#define HV_TSS_LIMIT	 (104 + 8192) /* the bitmap's final 0xff byte included */
#define HV_IDT_GPA	 0xa000ull
#define HV_STUBS_GPA	 0xb000ull				   /* 16 bytes per vector */
#define HV_KSTACK_GPA	 0xc000ull				   /* 1 KiB CPL0 stack per vCPU */
#define HV_MMIO_PD_GPA	 (HV_TSS_GPA + HV_MAX_VCPUS * HV_TSS_SIZE) /* maps PV_MMIO_GPA */
#define HV_SYS_END	 (HV_MMIO_PD_GPA + 0x1000ull)
#define HV_USER_STACK	 0x10000ull /* 64 KiB per vCPU at the top of RAM */
#define HV_FAULT_VECTORS 32

/* ---- I/O bus ---------------------------------------------------------- */

/* An access: `count` items of `size` bytes at data (count > 1 for rep ins/outs). */
typedef void (*hv_io_fn)(struct hv_vm *vm, void *dev, uint16_t port, bool out, uint8_t *data,
			 uint32_t size, uint32_t count);

enum hv_iodev {
	HV_IODEV_UART = 0,
	HV_IODEV_BLOCK,
	HV_IODEV_PIT,
	HV_IODEV_CMOS,
	HV_IODEV_POWER,
	HV_IODEV_NEGOTIATE,
	HV_IODEV_DOORBELL,
	HV_IODEV_UNKNOWN,
	HV_IODEV_NR,
};

struct hv_io_range {
	uint16_t base;
	uint16_t len;
	enum hv_iodev id;
	hv_io_fn fn;
	void *dev;
};

/* An MMIO access of len (1, 2, 4 or 8) bytes at guest-physical addr, which
 * lies in the device's range; the access may run past the range's end, so
 * the device checks addr + len against its registers. */
typedef void (*hv_mmio_fn)(struct hv_vm *vm, void *dev, uint64_t addr, bool write, uint8_t *data,
			   uint32_t len);

struct hv_mmio_range {
	uint64_t base;
	uint64_t len;
	hv_mmio_fn fn;
	void *dev;
};

#define HV_BUS_MAX	16
#define HV_MMIO_BUS_MAX 16
/* Ranges are registered before hv_vm_run and never change while vCPUs run,
 * so dispatch reads them without a lock; each device locks its own state. */
struct hv_bus {
	struct hv_io_range r[HV_BUS_MAX];
	int n;
	struct hv_mmio_range m[HV_MMIO_BUS_MAX];
	int nm;
};

int hv_bus_register(struct hv_bus *bus, uint16_t base, uint16_t len, enum hv_iodev id, hv_io_fn fn,
		    void *dev);
void hv_bus_io(struct hv_vm *vm, uint16_t port, bool out, uint8_t *data, uint32_t size,
	       uint32_t count);
/* Claims [base, base+len) of guest-physical space (the MMIO window,
 * PV_MMIO_GPA, is where guests can reach it): 0, -EINVAL for an empty or
 * wrapping range, -EEXIST when it overlaps another, -ENOSPC when full. */
int hv_bus_register_mmio(struct hv_bus *bus, uint64_t base, uint64_t len, hv_mmio_fn fn, void *dev);
void hv_bus_mmio(struct hv_vm *vm, uint64_t addr, bool write, uint8_t *data, uint32_t len);

/* ---- statistics ------------------------------------------------------- */

enum hv_exit_kind {
	HV_EXITK_IO = 0,
	HV_EXITK_MMIO,
	HV_EXITK_DOORBELL_KERNEL, /* ioeventfd: exits that never reached user space */
	HV_EXITK_INTR,
	HV_EXITK_SHUTDOWN,
	HV_EXITK_FAIL_ENTRY,
	HV_EXITK_INTERNAL,
	HV_EXITK_HLT,
	HV_EXITK_FAULT,	  /* CPU exceptions the guest could not handle */
	HV_EXITK_SYSCALL, /* system calls the guest tried (process platform) */
	HV_EXITK_OTHER,
	HV_EXITK_NR,
};

#define HV_HIST_BUCKETS 40
struct hv_hook_stats {
	uint64_t calls;	    /* descriptors (or requests) served */
	uint64_t doorbells; /* doorbell writes, in-kernel and user space */
	uint64_t bytes;
	uint64_t errors;
	uint64_t service_ns;
	uint64_t hist[HV_HIST_BUCKETS]; /* service time per doorbell, log2 ns */
};

struct hv_stats {
	uint64_t start_ns;
	uint64_t exits[HV_EXITK_NR];
	uint64_t io_exits[HV_IODEV_NR];
	struct hv_hook_stats hooks[PV_HOOK_COUNT];
	uint64_t neg_accepted;
	uint64_t neg_refused;
	uint64_t neg_resets;
	uint64_t unknown_hook;	    /* doorbells naming no hook */
	uint64_t bad_doorbell;	    /* doorbell accesses that are not a 32-bit write */
	uint64_t first_doorbell_ns; /* CLOCK_MONOTONIC of the first doorbell, 0 if none */
	uint64_t emu_block_sectors;
	uint64_t emu_console_bytes;
	uint64_t emu_clock_reads;
	uint64_t console_written; /* bytes offered to the console (counted with a limit) */
	uint64_t console_dropped; /* bytes past --console-limit */
	uint64_t mmio_unknown;	  /* MMIO exits at an address no device claims */
};

void hv_stats_hook_served(struct hv_vm *vm, unsigned int hook, uint64_t ns);
void hv_stats_doorbell(struct hv_vm *vm, unsigned int hook, uint64_t n);
uint64_t hv_stats_errors_total(struct hv_vm *vm);

/* ---- devices ---------------------------------------------------------- */

/* Writes guest console bytes to the console fd, within cfg.console_limit. */
void hv_console_write(struct hv_vm *vm, const void *buf, size_t n);

struct hv_uart {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
};

struct hv_blkdev {
	int fd;
	uint64_t sectors;
	uint64_t lba;
	uint32_t pos;	 /* byte index into buf for the data port */
	uint32_t status; /* latched PV_BLK_ST_* until read */
	uint8_t buf[PV_SECTOR_SIZE];
};

struct hv_pit {
	uint64_t start_ns;
	uint16_t latch;
	bool latched;
	bool hi_next;
};

struct hv_cmos {
	uint8_t index;
};

int hv_uart_init(struct hv_vm *vm);
int hv_block_init(struct hv_vm *vm, const char *path, struct pvm_err *err);
int hv_blockdev_register(struct hv_vm *vm);
int hv_pit_init(struct hv_vm *vm);
int hv_cmos_init(struct hv_vm *vm);
int hv_power_init(struct hv_vm *vm);

/* ---- pv hooks (pv.c and pv_*.c) --------------------------------------- */

struct hv_ring {
	uint64_t gpa;
	uint32_t size;
	uint32_t cons; /* host's own copy; the guest's is never trusted */
	bool valid;
};

struct hv_pv {
	pthread_mutex_t lock; /* negotiation state and every ring */
	uint64_t hook_page;   /* GPA, 0: not negotiated */
	uint64_t negotiated;
	uint32_t guest_version;
	uint32_t last_reason;
	uint64_t clock_gpa;
	struct hv_ring rings[PV_RING_COUNT];
	uint64_t backlog;	/* PV_F() of hooks whose batch was cut at the pass budget;
				 * written under lock, read atomically by the I/O thread */
	int efd[PV_HOOK_COUNT]; /* ioeventfds of the asynchronous hooks, -1 elsewhere */
	int wake_fd;		/* wakes the I/O thread (agent send, stop) */
	int epfd;
	pthread_t io_thread;
	bool io_started;
	/* agent channel, host side: the built-in session (agent.c), created when
	 * the guest's agent first speaks, unless hv_agent_set_rx took the channel */
	hv_agent_rx_fn agent_rx;
	void *agent_opaque;
	struct agent_host *agent; /* written once under lock, read atomically */
	uint8_t *agent_q;	  /* bytes waiting for guest rx buffers */
	size_t agent_qlen;
	size_t agent_qcap;
};

int hv_pv_init(struct hv_vm *vm);
int hv_pv_start(struct hv_vm *vm);
/* Stops the I/O thread and serves doorbells still pending. */
void hv_pv_stop(struct hv_vm *vm);
void hv_pv_free(struct hv_vm *vm);
/* Serves one doorbell of hook (lock held by the caller). */
void hv_pv_serve(struct hv_vm *vm, unsigned int hook);
void hv_pv_set_hook_error(struct hv_vm *vm, unsigned int hook, uint32_t st);

/* Serves ring descriptors: fn returns a PV_ST_* for each validated buffer. */
typedef uint32_t (*hv_desc_fn)(struct hv_vm *vm, struct pv_desc *d, uint8_t *buf);
uint64_t hv_ring_serve(struct hv_vm *vm, unsigned int hook, unsigned int ring, hv_desc_fn fn);

void hv_pv_console_serve(struct hv_vm *vm);
void hv_pv_block_serve(struct hv_vm *vm);
void hv_pv_agent_serve(struct hv_vm *vm);
void hv_pv_agent_deliver(struct hv_vm *vm);
/* Queues bytes for the guest's rx ring (pv lock held); 0 or -ENOBUFS/-ENOMEM. */
int hv_pv_agent_queue(struct hv_vm *vm, const void *buf, size_t len);

/* ---- the agent session (agent.c); pv lock held unless said otherwise ---- */
/* Guest bytes from the agent tx ring: to the session, created on first use. */
void hv_agent_feed(struct hv_vm *vm, const void *buf, size_t len);
/* Moves the session's output (if any) and queued bytes to the guest's rx ring. */
void hv_agent_pump(struct hv_vm *vm);
/* epoll timeout until the session next needs hv_agent_pump; -1: none (no lock). */
int hv_agent_timeout_ms(struct hv_vm *vm);
/* Merges the guest-side statistics into a stats document (no lock). */
void hv_agent_merge_stats(struct hv_vm *vm, json_object *stats);
void hv_agent_free(struct hv_vm *vm);
int hv_pv_clock_setup(struct hv_vm *vm, uint64_t gpa);
void hv_pv_wake(struct hv_vm *vm);
/* Ring helpers for hooks that complete descriptors themselves (agent rx). */
uint32_t hv_desc_buf(struct hv_vm *vm, const struct pv_desc *d, uint8_t **buf);
struct pv_desc *hv_ring_desc(struct hv_vm *vm, struct hv_ring *r, uint32_t idx);
int64_t hv_ring_pending(struct hv_vm *vm, unsigned int hook, struct hv_ring *r);
void hv_ring_complete(struct hv_vm *vm, unsigned int hook, struct hv_ring *r, struct pv_desc *slot,
		      uint32_t st, uint32_t done);
void hv_pv_halt(struct hv_vm *vm);

/* ---- the VM ----------------------------------------------------------- */

struct hv_vcpu {
	struct hv_vm *vm;
	unsigned int id;
	void *priv; /* the platform's */
	struct hv_exit exit;
	pthread_t thread; /* for join, valid when created */
	bool created;
	pthread_t self; /* for kicks, set by the thread itself under vm->lock */
	bool started;
};

enum hv_state {
	HV_STATE_CREATED = 0,
	HV_STATE_RUNNING,
	HV_STATE_PAUSED,
	HV_STATE_STOPPING,
	HV_STATE_STOPPED,
};

struct hv_vm {
	struct hv_config cfg;
	char *cmdline;
	const struct hv_platform *plat;
	void *priv; /* the platform's */
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t mapped_end; /* RAM covered by page tables (2 MiB multiple) */
	uint64_t entry;
	uint64_t image_end;
	struct pv_boot_info *boot;
	struct hv_vcpu vcpus[HV_MAX_VCPUS];
	unsigned int nvcpus;

	struct hv_bus bus;
	struct hv_uart uart;
	struct hv_blkdev blk;
	struct hv_pit pit;
	struct hv_cmos cmos;
	struct hv_pv pv;
	struct hv_stats stats;

	pthread_mutex_t lock; /* state, exit code, pause */
	pthread_cond_t cond;
	enum hv_state state;
	bool pause_req;
	unsigned int vcpus_parked;
	bool done;
	int exit_code;
	char exit_reason[256];
	uint64_t stop_deadline_ns; /* graceful stop: force after this, 0: none */
	uint64_t halt_wakes;	   /* bumped when agent bytes or a served ring may end a halt */
};

/* Ends the run with code (first caller wins) and kicks every vCPU. */
void hv_vm_end(struct hv_vm *vm, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hv_vm_kick_all(struct hv_vm *vm);

/* Top of vCPU id's 64 KiB stack, where the entry state points rsp. */
static inline uint64_t hv_vcpu_stack_top(const struct hv_vm *vm, unsigned int id)
{
	return vm->mapped_end - (uint64_t)id * HV_USER_STACK;
}

/* Guest memory: a host pointer to [gpa, gpa+len) or NULL when any byte of
 * it lies outside guest RAM (overflow-safe). */
void *hv_gpa(struct hv_vm *vm, uint64_t gpa, uint64_t len);

int hv_elf_load(struct hv_vm *vm, const char *path, struct pvm_err *err);
int hv_boot_setup(struct hv_vm *vm, struct pvm_err *err);
int hv_vcpu_init(struct hv_vm *vm, unsigned int id, struct pvm_err *err);
void *hv_vcpu_thread(void *arg);
/* The vCPU the calling thread runs (NULL off vCPU threads). */
extern __thread struct hv_vcpu *hv_cur_vcpu;
/* The VMM's threads and the allow-list of system calls each installs (confine.c). */
enum hv_thread_role {
	HV_THREAD_VCPU = 0,
	HV_THREAD_IO,
	HV_THREAD_CTL,
};
int hv_confine_thread(enum hv_thread_role role);

/* Name of an exception vector ("#PF"), "?" when it has none. */
const char *hv_vector_name(uint32_t vector);
bool hv_vector_has_error_code(uint32_t vector);

#endif /* PVM_HV_VM_H */
