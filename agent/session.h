/* SPDX-License-Identifier: MIT */
/* The host-side agent session's state; private to agent/ (session*.c). */
#ifndef PVM_AGENT_SESSION_H
#define PVM_AGENT_SESSION_H

#include <pthread.h>

#include "agent/agent.h"

#define SESSION_OUT_MAX 1024

/* A token bucket: tokens refill at rate per second up to burst. */
struct session_bucket {
	double tokens, rate, burst;
	uint64_t last_ns;
};

struct agent_host {
	pthread_mutex_t lock; /* every public call holds it */
	struct agent_host_config cfg;
	struct agent_dec dec;
	struct agent_msg msg; /* scratch for decoding */

	struct session_bucket frame_tb, byte_tb;
	uint64_t rl_frames, rl_bytes, bytes_in;

	/* The sync handshake: replies received while syncing are stale. */
	bool syncing;
	uint64_t sync_nonce, last_sync_ns, syncs_sent, syncs_answered;
	uint64_t stale_replies;

	uint64_t next_nonce;
	uint32_t seq;
	uint8_t out[SESSION_OUT_MAX];
	size_t out_len;

	uint64_t partial_since_ns; /* 0: no partial frame buffered */
	enum agent_reason last_reject;
	uint64_t last_reject_ns;

	bool have_hello, have_neg, have_report, have_heartbeat, have_bye, have_ack;
	struct agent_hello hello;
	struct agent_negotiation neg;
	struct agent_report report;
	struct agent_heartbeat heartbeat;
	struct agent_ack ack;
	uint8_t bye_reason;
	uint64_t hello_ns, neg_ns, report_ns, heartbeat_ns, bye_ns, ack_ns, last_frame_ns;

	bool ping_outstanding;
	uint64_t ping_nonce, ping_sent_ns, pings_sent, pongs, last_rtt_ns;
};

bool session_report_stale(const struct agent_host *h, uint64_t now_ns);

#endif /* PVM_AGENT_SESSION_H */
