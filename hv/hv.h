/* SPDX-License-Identifier: MIT */
/*
 * hv: the pvm hypervisor core (library pvm_hv, binary pvm-vmm). One VM per
 * process: KVM VM, vCPU threads, an I/O bus (ports and MMIO, by range) with
 * emulated devices (8250 UART, port-I/O block device, PIT, CMOS, power-off
 * port) and the pv hook ABI v1 (hv/pv_abi.h, docs/pv-abi.md) served through
 * one doorbell port.
 *
 * Life cycle: hv_vm_create() validates the configuration and builds the VM;
 * hv_vm_run() runs it until the guest powers off, crashes or is stopped and
 * returns the process exit code (HV_EXIT_*); hv_vm_destroy() frees it.
 * hv_vm_pause/resume/stop and the hv_agent_* calls are safe from any thread
 * while hv_vm_run() runs. The library sends SIGUSR1 to vCPU threads to kick
 * them out of KVM_RUN and installs a no-op handler for it.
 *
 * Control socket (hv_ctl_*, `pvm-vmm run --api-sock PATH`): a unix stream
 * socket, one JSON object per line each way. Requests:
 *   {"cmd":"status"}        -> {"ok":true,"state":"running|paused|stopping",
 *                               "vcpus":N,"mem_mib":M,"uptime_ms":T}
 *   {"cmd":"stats"}         -> {"ok":true,"stats":{...as --stats-json...}}
 *   {"cmd":"capabilities"}  -> {"ok":true,"abi_version":1,"offered":[...],
 *                               "negotiated":[...],"negotiated_mask":N,
 *                               "guest_abi_version":V,"last_reason":R}
 *   {"cmd":"pause"} / {"cmd":"resume"} -> {"ok":true,"state":...}
 *   {"cmd":"stop","timeout_ms":N}      -> {"ok":true,"state":"stopping"}
 *        graceful: the boot-info STOP flag is raised; after timeout_ms
 *        (default 5000) the VM is stopped by force (exit HV_EXIT_FORCED).
 *   {"cmd":"stop","force":true}        -> immediate forced stop
 *   {"cmd":"agent"}        -> {"ok":true,"state":...,"agent":{...}|null}: the
 *        guest agent's session (docs/agent-protocol.md section 6: hello,
 *        negotiation, last report with its stale flag, rejected and
 *        rate-limited frames); null until the guest's agent has spoken
 *   {"cmd":"agent_ping"}, {"cmd":"agent_renegotiate"},
 *   {"cmd":"agent_set_interval","interval_ms":N} -> {"ok":true,"state":...}:
 *        requests queued for the agent; its answers show in "agent"
 *   {"cmd":"agent_shutdown","timeout_ms":N} -> {"ok":true,"state":"stopping"}:
 *        the agent is asked to shut the guest down (final report, BYE,
 *        power-off); as with stop, the VM is stopped by force after
 *        timeout_ms (default 5000)
 *   The agent requests answer {"ok":false,...} while no agent has spoken.
 *   "stats" (and --stats-json) carry the agent's figures once it has
 *   reported: hooks.<name>.guest = {calls, cycles, cycles_per_call, bytes,
 *   errors} and agent = {state, report_no, age_ms, stale, counters}; and
 *   "report": the statistics report of common/common.h (struct pvm_report:
 *   platform, hook_stats of the hooks negotiated or called, capabilities
 *   once the guest negotiated, exits), which pvmd decodes and relays.
 * Errors: {"ok":false,"error":"message"}; unknown fields, unknown commands
 * and malformed JSON are errors and leave the connection open.
 */
#ifndef PVM_HV_H
#define PVM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "hv/pv_abi.h"

#define HV_MAX_VCPUS   16
#define HV_MIN_MEM_MIB 8
#define HV_MAX_MEM_MIB 4096

/* Process exit codes of pvm-vmm run. A guest's own code (0..63) passes through. */
#define HV_EXIT_INTERNAL    1  /* VMM error (KVM or the guest process failed, out of memory) */
#define HV_EXIT_CONFIG	    2  /* bad configuration: one-line error */
#define HV_EXIT_GUEST_FAULT 70 /* CPU exception in the guest, or a system call it tried */
#define HV_EXIT_TRIPLE	    71 /* triple fault (KVM_EXIT_SHUTDOWN) */
#define HV_EXIT_EMULATION   72 /* an instruction the platform cannot emulate, failed entry */
#define HV_EXIT_FORCED	    73 /* stopped by force (stop timeout or forced stop) */

/* What runs the guest: docs/platforms.md. */
enum hv_platform_id {
	HV_PLATFORM_AUTO = 0, /* kvm where /dev/kvm works, else process */
	HV_PLATFORM_KVM,
	HV_PLATFORM_PROCESS,
};

struct hv_config {
	const char *image; /* ELF64 x86-64 executable, required */
	enum hv_platform_id platform;
	uint64_t mem_mib;	/* HV_MIN_MEM_MIB..HV_MAX_MEM_MIB */
	unsigned int vcpus;	/* 1..HV_MAX_VCPUS */
	const char *disk;	/* NULL: no block device */
	const char *cmdline;	/* NULL: empty */
	uint64_t offered;	/* hook bits offered to the guest (PV_F_ALL_V1 by default) */
	int console_fd;		/* where console bytes go (1: stdout) */
	uint64_t console_limit; /* bytes one guest may write to it; 0: no limit */
	bool confine;		/* each VMM thread installs its syscall allow-list (confine.c) */
};

void hv_config_init(struct hv_config *cfg);

/* "console,block" or "none" or "all" -> mask. Unknown names are an error. */
int hv_hooks_parse(const char *s, uint64_t *mask, struct pvm_err *err);

/* "auto", "kvm" or "process" -> id; anything else is an error. */
int hv_platform_parse(const char *s, enum hv_platform_id *out, struct pvm_err *err);
/* "kvm" or "process" for a resolved id, "auto" for HV_PLATFORM_AUTO. */
const char *hv_platform_name(enum hv_platform_id id);
/* The platform auto picks on this host (probes /dev/kvm once). */
enum hv_platform_id hv_platform_probe(void);

struct hv_vm;

/* 0, or a negative errno with err filled: err->field names the setting at
 * fault ("image", "mem", ...) when the configuration is wrong, and is empty
 * when the platform itself failed (no KVM, no memory). */
int hv_vm_create(const struct hv_config *cfg, struct hv_vm **out, struct pvm_err *err);
/* Runs until the end; returns the exit code (guest's or HV_EXIT_*). */
int hv_vm_run(struct hv_vm *vm);
void hv_vm_destroy(struct hv_vm *vm);

/* Returns once every vCPU is out of the guest (called before hv_vm_run, once
 * the run has started and parked them). */
int hv_vm_pause(struct hv_vm *vm);
int hv_vm_resume(struct hv_vm *vm);
/* Graceful stop (raise the boot-info STOP flag, force after timeout_ms);
 * timeout_ms 0 stops by force at once. */
int hv_vm_stop(struct hv_vm *vm, uint64_t timeout_ms);
/* "created", "running", "paused", "stopping", "stopped" */
const char *hv_vm_state(struct hv_vm *vm);
/* The platform the VM runs on: "kvm" or "process". */
const char *hv_vm_platform(struct hv_vm *vm);
/* Why the run ended, once it has ("guest powered off with code 0", ...). */
const char *hv_vm_exit_reason(struct hv_vm *vm);

/* Statistics as one JSON object (the --stats-json document). */
json_object *hv_stats_json(struct hv_vm *vm);
/* Negotiated capabilities as one JSON object. */
json_object *hv_caps_json(struct hv_vm *vm);
/* Writes the stats document to path (atomically, via a temporary file). */
int hv_stats_write(struct hv_vm *vm, const char *path, struct pvm_err *err);

/*
 * Agent channel, host side. By default the VM runs the guest agent's
 * session itself (agent/'s struct agent_host), created when the guest's
 * agent first sends bytes: hv_agent_json and hv_agent_request reach it, and
 * hv_stats_json merges its figures.
 */
/* The session as a new JSON object (docs/agent-protocol.md section 6), NULL
 * while the guest's agent has not spoken (or on ENOMEM). */
json_object *hv_agent_json(struct hv_vm *vm);
enum hv_agent_req {
	HV_AGENT_PING = 0,
	HV_AGENT_SET_INTERVAL, /* arg: interval in ms, 100..3600000 */
	HV_AGENT_RENEGOTIATE,
	HV_AGENT_SHUTDOWN, /* arg: the timeout the agent is told, 0..600000 ms */
};
/* Queues a request for the agent: 0, -ENOTCONN while there is no session,
 * -EINVAL for arg out of range, -EAGAIN when the session's queue is full. */
int hv_agent_request(struct hv_vm *vm, enum hv_agent_req req, uint32_t arg);
/*
 * Raw access instead of the session, for a caller that runs its own: once
 * set (before hv_vm_run), bytes from the guest go to fn (called on the VMM's
 * I/O thread) and the built-in session is never created; hv_agent_send
 * queues bytes for the guest, delivered into the buffers it posts on its rx
 * ring.
 */
typedef void (*hv_agent_rx_fn)(void *opaque, const void *buf, size_t len);
void hv_agent_set_rx(struct hv_vm *vm, hv_agent_rx_fn fn, void *opaque);
int hv_agent_send(struct hv_vm *vm, const void *buf, size_t len);

/* Control socket: binds path (unlinking a stale socket) and serves it from
 * its own thread until hv_ctl_close. */
struct hv_ctl;
int hv_ctl_open(struct hv_vm *vm, const char *path, struct hv_ctl **out, struct pvm_err *err);
void hv_ctl_close(struct hv_ctl *ctl);

#endif /* PVM_HV_H */
