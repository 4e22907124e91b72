/* SPDX-License-Identifier: MIT */
/*
 * What pvm-agent reads from a running Linux kernel: the KVM pv features in
 * use, the virtio devices present and a few workload counters. Private to
 * agent/ (pvm-agent and its tests). `root` prefixes /proc and /sys paths
 * ("" for the real ones), so tests can hand in fixed files.
 */
#ifndef PVM_AGENT_LINUX_H
#define PVM_AGENT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

struct agent_linux_stat {
	uint64_t steal_ticks; /* USER_HZ ticks, the "cpu" line's 8th value */
	uint64_t ctxt, intr, processes, procs_running;
};

/* The current clocksource's name (truncated to AGENT_CLOCKSOURCE_MAX). */
int agent_linux_clocksource(const char *root, char *out, size_t len);
/* The virtio device types present (bit n: type n, 1..31), from
 * <root>/sys/bus/virtio/devices/<dev>/device; 0 when there is no virtio bus. */
uint32_t agent_linux_virtio_devices(const char *root);
/* Parses <root>/proc/stat. */
int agent_linux_stat(const char *root, struct agent_linux_stat *st);
/* CPUID 0x40000000/0x40000001 from user space: AGENT_KVM_CPUID_READ when a
 * hypervisor is present, AGENT_KVM_SIGNATURE when it says "KVMKVMKVM", and
 * leaf 0x40000001 EAX as read (0 when not KVM's). */
void agent_linux_cpuid(uint32_t *flags, uint32_t *features);
/* <root>/proc/sys/kernel/random/boot_id as 16 bytes. */
int agent_linux_boot_id(const char *root, uint8_t id[16]);
/* "Linux <release>" from uname(2). */
void agent_linux_os(char *out, size_t len);
/* The negotiation result a Linux guest reports: no pv hooks, KVM state. */
void agent_linux_negotiation(const char *root, struct agent_negotiation *n);
/* Workload counters for a report, from <root>/proc/stat. */
void agent_linux_fill_report(const char *root, struct agent_report *r);

#endif /* PVM_AGENT_LINUX_H */
