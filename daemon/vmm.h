/* SPDX-License-Identifier: MIT */
/*
 * The hv driver's plumbing, internal to daemon/: spawning confined pvm-vmm
 * processes (vmm_proc.c), their control-socket client (vmm_ctl.c) and the
 * host's own SQLite of guest definitions and VMM processes, kept for
 * re-adoption after pvmd restarts (host_state.c).
 */
#ifndef PVMD_VMM_H
#define PVMD_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ---- vmm_proc.c: processes ---------------------------------------------- */

/* A seccomp program built once, before any fork (the child only loads it). */
struct pvmd_seccomp;

/* The deny list a VMM never needs (mount, ptrace, kexec, modules, reboot, bpf, ...):
 * each such call fails with EPERM. */
int pvmd_seccomp_build(struct pvmd_seccomp **out, struct pvm_err *err);
void pvmd_seccomp_free(struct pvmd_seccomp *sc);

struct pvmd_spawn {
	char *const *argv;		    /* argv[0] is the binary's path */
	const char *log_path;		    /* stdout and stderr are appended here */
	const struct pvmd_seccomp *seccomp; /* NULL: none (no_new_privs is always set) */
	const char *cgroup;		    /* cgroup v2 directory to join, or NULL */
};

/*
 * Forks and execs sp->argv in its own process group with an empty signal
 * mask, default dispositions, stdin on /dev/null. Errors of the child before
 * exec (log file, cgroup, seccomp, exec) come back through err.
 */
int pvmd_spawn(const struct pvmd_spawn *sp, pid_t *pid, struct pvm_err *err);

/* The kernel's start time of pid (clock ticks since boot), which with the
 * pid names one process across pid reuse; 0 when pid does not exist. */
uint64_t pvmd_proc_starttime(pid_t pid);

/*
 * Is the process (pid, starttime) alive? When it is our child and has ended
 * it is reaped and *status (wait status) set, else *status is -1.
 */
bool pvmd_proc_alive(pid_t pid, uint64_t starttime, int *status);

/*
 * cgroup v2: creates <root>/pvm/<name> with memory.max and cpu.max where those
 * controllers are enabled and returns its path in out (empty when cgroup v2 or
 * its controllers are missing here: logged once, not an error).
 */
int pvmd_cgroup_prepare(const char *name, uint64_t memory_mib, unsigned vcpus, char *out,
			size_t len);
/* Removes the cgroup of a guest that has no processes left. */
void pvmd_cgroup_remove(const char *name);

/*
 * vmm_cost.c: the host's cost of one vCPU exit on platform in ns, timed
 * with image (the bare microguest) making exits port writes nobody serves,
 * against the same run making none; the median of three pairs.
 */
int pvmd_vmm_exit_cost(const char *vmm, const char *image, const char *platform, unsigned exits,
		       double *ns, struct pvm_err *err);

/* ---- vmm_ctl.c: the control socket (protocol in hv/hv.h) ----------------- */

/* A non-blocking, connected stream socket to the unix socket path; a
 * negative errno when nothing listens there. */
int pvmd_unix_connect(const char *path);

/*
 * Sends one request line to the VMM's socket and parses its one-line answer.
 * An answer {"ok":false,"error":...} becomes -EPROTO with the message.
 */
int pvmd_vmm_call(const char *sock, const char *request, unsigned timeout_ms, json_object **ans,
		  struct pvm_err *err);

/* The pid of the process listening on sock, or 0 when none answers: finds a
 * VMM whose start was not recorded (pvmd killed between fork and commit). */
pid_t pvmd_vmm_peer_pid(const char *sock);

/* ---- host_state.c: the host's SQLite ------------------------------------ */

struct pvmd_hstate;

struct pvmd_hguest {
	char id[64];
	char name[64];
	unsigned vcpus;
	uint64_t memory_mib;
	char *image;   /* owned */
	char *disk;    /* owned, NULL for none */
	char *cmdline; /* owned, NULL for none */
	pid_t pid;     /* 0: never started */
	uint64_t starttime;
	int exit_status; /* wait status of the last run; -1 unknown or running */
	bool stopping;	 /* pvmd asked it to stop: its end is not a crash */
	/* pvm-vmm --platform ("kvm", "process", "auto"); "": the driver's */
	char platform[16];
};

int pvmd_hstate_open(const char *path, struct pvmd_hstate **out, struct pvm_err *err);
void pvmd_hstate_close(struct pvmd_hstate *hs);
/* -EEXIST when the id is known. */
int pvmd_hstate_add(struct pvmd_hstate *hs, const struct pvmd_hguest *g, struct pvm_err *err);
/* -ENOENT when unknown. */
int pvmd_hstate_get(struct pvmd_hstate *hs, const char *id, struct pvmd_hguest *out,
		    struct pvm_err *err);
/* Records the process fields (pid, starttime, exit_status, stopping). */
int pvmd_hstate_set_proc(struct pvmd_hstate *hs, const struct pvmd_hguest *g, struct pvm_err *err);
int pvmd_hstate_del(struct pvmd_hstate *hs, const char *id, struct pvm_err *err);
/* Every guest, ordered by id; free with pvmd_hguests_free. */
int pvmd_hstate_list(struct pvmd_hstate *hs, struct pvmd_hguest **out, size_t *n,
		     struct pvm_err *err);
void pvmd_hguest_free(struct pvmd_hguest *g);
void pvmd_hguests_free(struct pvmd_hguest *g, size_t n);

#endif /* PVMD_VMM_H */
