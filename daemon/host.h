/* SPDX-License-Identifier: MIT */
/*
 * pvmd's host role, internal to daemon/: registers with the controller,
 * heartbeats its capabilities, long-polls its assignments and reconciles
 * them against the guests its drivers run, restarting crashed VMMs per
 * restart policy with backoff, and reports observed state, negotiated hooks
 * and hook statistics. pvmd's main calls pvmd_host_run() for `--role host`
 * and, beside the controller, for the all-in-one default.
 */
#ifndef PVMD_HOST_H
#define PVMD_HOST_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "daemon/role.h"

struct pvmd_host_config {
	const char *controller;	     /* base URL: "http://127.0.0.1:7070" */
	const char *token;	     /* the host-role bearer token (the secret itself) */
	const char *name;	     /* host name to register; NULL: gethostname() */
	const char *state_dir;	     /* host.db, guests/ID.sock and ID.log live here */
	const char *vmm;	     /* pvm-vmm binary; NULL: $PVM_VMM or beside pvmd */
	const char *hooks;	     /* hooks the VMMs offer ("all", "console,block", ...) */
	const char *platform;	     /* auto|kvm|process; NULL: auto, VMMs pick (PVM_PLATFORM) */
	const char *image_dir;	     /* where image names that are not paths are looked up */
	const char *libvirt_uri;     /* NULL: no libvirt driver (kind libvirt/linux guests fail) */
	const char *labels;	     /* JSON object text, or NULL */
	const char *console_limit;   /* bytes a guest's console log takes a run; NULL: driver's */
	unsigned report_interval_ms; /* 0: 2000 */
	unsigned restart_backoff_ms; /* first restart delay, doubled per crash; 0: 1000 */
	unsigned restart_backoff_max_ms; /* 0: 60000 */
	unsigned stop_timeout_ms;	 /* graceful stop before force; 0: 5000 */
	bool stop_guests_on_exit;	 /* else guests keep running when pvmd stops */
	/*
	 * Stop every guest once no heartbeat has been acknowledged for the
	 * controller's lease less its margin (the lease_s and fence_margin_s of
	 * its answers), so that guests it then places elsewhere never run
	 * twice; they start again here if still assigned once it answers. The
	 * host role; the all-in-one has no other host to move them to.
	 */
	bool fence;
	/* Port writes timed to measure the cost of an exit at start (0: not
	 * measured; the scheduler assumes its policy's exits_per_core). */
	unsigned exit_cost_exits;
	/*
	 * Called with "READY=1" once registered and reconciled, "WATCHDOG=1" on
	 * every loop turn, "STOPPING=1" when stopping: sd_notify's strings, so
	 * main can pass them through. May be NULL.
	 */
	void (*notify)(void *arg, const char *state);
	void *notify_arg;
};

/* Runs until *stop becomes non-zero (set it from a signal handler or thread).
 * Returns 0 on a clean stop, a negative errno when it cannot run. */
int pvmd_host_run(const struct pvmd_host_config *cfg, volatile sig_atomic_t *stop,
		  struct pvm_err *err);

/* ---- role_host.c: `pvmd --role host` ----------------------------------- */

/* The role, and the configuration keys it reads beside pvmd's own
 * (state_dir, log.*): pvmd's main adds both to its tables. */
extern const struct pvmd_role pvmd_role_host;
extern const struct pvm_config_key pvmd_host_keys[];
extern const size_t pvmd_nhost_keys;

#define PVMD_TOKEN_MAX 512

/* The host keys of cfg into hc (token and controller left to the caller's
 * role); hc's strings point into cfg. */
int pvmd_host_config_from(const struct pvm_config *cfg, struct pvmd_host_config *hc,
			  struct pvm_err *err);
/* A bearer token: the file's first line. The file should be readable by pvmd only. */
int pvmd_read_token(const char *path, char *out, size_t len, struct pvm_err *err);
/* pvmd_host_run's result as the process exit code (2: bad configuration). */
int pvmd_host_exit_code(int ret);

/* A thread that sigwait()s on the signals main blocked: SIGTERM and SIGINT
 * set stop, SIGHUP reloads the configuration (pvmd_reload). */
struct pvmd_signals {
	const sigset_t *sigs;
	const struct pvm_config *cfg;
	pthread_t thread;
	volatile sig_atomic_t stop;
};

int pvmd_signals_start(struct pvmd_signals *sc, const sigset_t *sigs, const struct pvm_config *cfg);
void pvmd_signals_join(struct pvmd_signals *sc);

/* ---- kvm_caps.c --------------------------------------------------------- */

/* KVM's pv feature names (KVM_GET_SUPPORTED_CPUID leaf 0x40000001 EAX) into a
 * new JSON array; an empty array where /dev/kvm is missing. */
int pvmd_kvm_pv_features(json_object **out, struct pvm_err *err);
/*
 * The hv platforms a host configured with `platform` (auto|kvm|process, NULL:
 * auto) offers, as a new JSON array of names: auto offers kvm when it works
 * here (hv_platform_probe) and process always; a forced platform is offered
 * alone. -EINVAL (field "platform") for another name.
 */
int pvmd_host_platforms(const char *platform, json_object **out, struct pvm_err *err);

/* ---- host_report.c ------------------------------------------------------ */

/* The statistics report (common.h) a VMM's "stats" carry, decoded with the
 * controller's own rules: -ENOENT when they carry none (a libvirt domain), else
 * what pvm_report_decode says of it, its fields named under "/report". */
int pvmd_report_from_stats(json_object *stats, struct pvm_report *out, struct pvm_err *err);
/* The VMM's "agent" document as the report's "agent" (a new object); NULL
 * until the agent's hello arrived. */
json_object *pvmd_report_agent(json_object *agent);

/* ---- host_client.c: the controller's REST API over libcurl --------------- */

struct pvmd_client;

int pvmd_client_open(const char *base, const char *token, volatile sig_atomic_t *stop,
		     struct pvmd_client **out, struct pvm_err *err);
void pvmd_client_close(struct pvmd_client *c);
/*
 * METHOD base+path with body (may be NULL) as JSON. *status is the HTTP
 * status; *ans the parsed answer (NULL when empty). A problem+json answer
 * is not an error here: the caller judges the status. Aborts with -EINTR
 * when *stop is set.
 */
int pvmd_client_call(struct pvmd_client *c, const char *method, const char *path, json_object *body,
		     unsigned timeout_s, long *status, json_object **ans, struct pvm_err *err);

#endif /* PVMD_HOST_H */
