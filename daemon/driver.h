/* SPDX-License-Identifier: MIT */
/*
 * Guest drivers of the host role: one table of operations per driver, as
 * libvirt's drivers are; the host role calls the table and never a driver
 * directly. Drivers: "hv" (one pvm-vmm process per guest) and "libvirt"
 * (domains on an existing libvirt, test:///default in tests).
 *
 * Internal to daemon/: other modules reach the daemon only through its
 * processes and the REST API.
 */
#ifndef PVMD_DRIVER_H
#define PVMD_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

enum pvmd_guest_state {
	PVMD_GUEST_UNKNOWN = 0,
	PVMD_GUEST_DEFINED, /* known to the driver, not running: never started, or stopped on
			       request */
	PVMD_GUEST_RUNNING,
	PVMD_GUEST_PAUSED,
	PVMD_GUEST_STOPPED, /* ran and exited cleanly */
	PVMD_GUEST_CRASHED,
};

/* What a driver needs to create a guest; strings are borrowed. */
struct pvmd_guest_def {
	const char *id;	  /* the controller's guest id, the key for every call */
	const char *name; /* [A-Za-z0-9_.-], at most 63 bytes */
	unsigned vcpus;
	uint64_t memory_mib;
	const char *image;   /* kernel or microguest image path; NULL where the driver has none */
	const char *disk;    /* disk image path or NULL */
	uint64_t disk_gib;   /* no disk path: a sparse scratch disk of this size (0: none) */
	const char *cmdline; /* NULL for none */
	/* Where the driver keeps the guest's files (console log, agent socket,
	 * scratch disk); NULL: none (libvirt then gives a pty console, no agent). */
	const char *state_dir;
	/* The hv platform it must run on ("kvm", "process"); NULL: the driver's
	 * own. Drivers without platforms ignore it. */
	const char *platform;
};

struct pvmd_guest_info {
	char id[64];
	char name[64];
	enum pvmd_guest_state state;
};

struct pvmd_driver_ops {
	const char *name;
	int (*open)(const char *uri, void **priv, struct pvm_err *err);
	void (*close)(void *priv);
	int (*define)(void *priv, const struct pvmd_guest_def *def, struct pvm_err *err);
	int (*start)(void *priv, const char *id, struct pvm_err *err);
	/* Graceful stop, forced once timeout_ms has passed. */
	int (*stop)(void *priv, const char *id, unsigned timeout_ms, struct pvm_err *err);
	int (*undefine)(void *priv, const char *id, struct pvm_err *err);
	int (*state)(void *priv, const char *id, enum pvmd_guest_state *out, struct pvm_err *err);
	int (*stats)(void *priv, const char *id, json_object **out, struct pvm_err *err);
	/* The guest agent's session as the VMM sees it (hello, negotiation, last
	 * report); -ENOENT before the agent spoke. NULL where the driver has no
	 * agent channel. */
	int (*agent)(void *priv, const char *id, json_object **out, struct pvm_err *err);
	/* Every guest this driver manages for pvm, for re-adoption after a restart. */
	int (*list)(void *priv, struct pvmd_guest_info **out, size_t *n, struct pvm_err *err);
	/* The host's cost of one vCPU exit on platform, in ns, timed with the bare
	 * microguest image making exits exits. NULL where the driver cannot. */
	int (*exit_cost)(void *priv, const char *image, const char *platform, unsigned exits,
			 double *ns, struct pvm_err *err);
};

struct pvmd_driver {
	const struct pvmd_driver_ops *ops;
	void *priv;
};

extern const struct pvmd_driver_ops pvmd_driver_hv;
extern const struct pvmd_driver_ops pvmd_driver_libvirt;

/* Opens the driver called name ("libvirt", "hv") with its URI or config. */
int pvmd_driver_open(const char *name, const char *uri, struct pvmd_driver *drv,
		     struct pvm_err *err);
void pvmd_driver_close(struct pvmd_driver *drv);
const char *pvmd_guest_state_name(enum pvmd_guest_state state);
/* Whether KVM here boots a stock Linux kernel (VMX/SVM, the vendor module,
 * a usable /dev/kvm): libvirt's domain type kvm, else qemu (TCG). */
bool pvmd_hardware_kvm(void);
/* Checks a guest name against the charset every driver accepts. */
int pvmd_guest_name_check(const char *name, struct pvm_err *err);

#endif /* PVMD_DRIVER_H */
