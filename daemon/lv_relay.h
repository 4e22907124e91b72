/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver's agent relays (private to daemon/driver_libvirt.c):
 * one thread per running Linux guest holds a session with pvm-agent on the
 * guest's virtio-serial socket for as long as the guest runs, as a VMM holds
 * a microguest's, so reports, pings and shutdowns flow like theirs and a
 * hello is seen the moment it is sent.
 */
#ifndef PVM_DAEMON_LV_RELAY_H
#define PVM_DAEMON_LV_RELAY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct lv_relays;

int lv_relays_new(struct lv_relays **out);
/* Stops every relay and frees the set. */
void lv_relays_free(struct lv_relays *rs);
/* The guest's relay, started on its socket if there was none; 0 or -ENOMEM,
 * -EAGAIN when its thread would not start. */
int lv_relay_ensure(struct lv_relays *rs, const char *id, const char *sock);
/* Stops and forgets the guest's relay (its domain stopped or went away). */
void lv_relay_drop(struct lv_relays *rs, const char *id);
/* The session as JSON once the agent said hello and negotiated; -ENOENT
 * before that (or without a relay), -ENOMEM. */
int lv_relay_json(struct lv_relays *rs, const char *id, json_object **out);
/* Asks the agent to shut the guest down and waits until it said BYE or
 * wait_ns passed; true when it said BYE. Waits for the hello first (a relay
 * that was just started), within the same time. */
bool lv_relay_shutdown(struct lv_relays *rs, const char *id, uint64_t wait_ns);

#endif /* PVM_DAEMON_LV_RELAY_H */
