/* SPDX-License-Identifier: MIT */
/*
 * agent: the guest agent protocol v2 (docs/agent-protocol.md), its codec, the
 * agent state machine shared by microguests and pvm-agent, and the host-side
 * session a VMM keeps per guest. Public names carry the prefix agent_.
 *
 * Two halves:
 *
 * 1. Freestanding (no libc, no allocation, no I/O): the codec, the stream
 *    decoder, the agent state machine and guest-side statistics. The files are
 *
 *        agent/crc32c.c  agent/codec.c  agent/decoder.c  agent/sm.c  agent/stats.c
 *
 *    (also in the CMake cache variable PVM_AGENT_FREESTANDING_SOURCES). They
 *    include only this header and agent/wire.h, which include only
 *    <stdbool.h>, <stddef.h>, <stdint.h> and the freestanding hv/pv_abi.h. Build them with
 *    -ffreestanding -nostdlib; they need memcpy, memset and memcmp from the
 *    environment (as any GCC/Clang freestanding code may), and nothing else
 *    (no memmove: the guest SDK has none).
 *
 * 2. Hosted (json-c, malloc, pthreads): the host-side session struct agent_host, in
 *    library pvm_agent. A VMM wires it to the agent channel like this:
 *
 *        h = agent_host_new(&cfg, now);             // once per guest
 *        // bytes the guest wrote to the channel:
 *        agent_host_feed(h, data, len, now);
 *        // bytes to write to the guest (requests, sync):
 *        n = agent_host_output(h, buf, sizeof(buf), now);
 *        // control socket `agent` request:
 *        json_object *j = agent_host_to_json(h, now);
 *        // control socket requests towards the agent:
 *        agent_host_ping(h, now); agent_host_set_interval(h, ms, now); ...
 *        agent_host_free(h);
 *
 *    Call agent_host_output after every feed and at least every
 *    agent_host_next_deadline(); it never blocks and never reads past the
 *    buffers it is given. Every agent_host_* call takes the session's own
 *    lock, so the I/O thread may feed while the control-socket thread renders
 *    JSON. With hv/ (see hv/hv.h):
 *
 *        hv_agent_set_rx(vm, agent_host_rx, h);         // guest -> session
 *        // on the I/O thread, after rx and when the deadline passes:
 *        n = agent_host_output(h, buf, sizeof(buf), pvm_now_ns());
 *        if (n) hv_agent_send(vm, buf, n);              // session -> guest
 *        // control socket: {"cmd":"agent"} -> agent_host_to_json(h, now);
 *        // {"cmd":"stats"} -> agent_host_merge_stats(h, hv_stats_json(vm), now)
 */
#ifndef PVM_AGENT_H
#define PVM_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hook ids are the bit numbers of the pv hook offer: PV_HOOK_* (docs/pv-abi.md). */
#include "hv/pv_abi.h"

/* ---- protocol constants ------------------------------------------------ */

#define AGENT_PROTO_VERSION 2
#define AGENT_MAGIC0	    0x50 /* 'P' */
#define AGENT_MAGIC1	    0x56 /* 'V' */
#define AGENT_MAGIC2	    0x41 /* 'A' */
#define AGENT_MAGIC3	    0x47 /* 'G' */
#define AGENT_HDR_SIZE	    20
#define AGENT_MAX_PAYLOAD   2048
#define AGENT_FRAME_MAX	    (AGENT_HDR_SIZE + AGENT_MAX_PAYLOAD)

#define AGENT_VERSION_MAJOR 1
#define AGENT_VERSION_MINOR 0

#define AGENT_OS_MAX	      63 /* bytes of the OS string */
#define AGENT_CLOCKSOURCE_MAX 31
#define AGENT_NAME_MAX	      31 /* workload counter names */
#define AGENT_MAX_HOOKS	      32 /* hook ids 0..31, bit numbers of the offer bitmap */
#define AGENT_REPORT_HOOKS    16 /* hook entries per report */
#define AGENT_REPORT_COUNTERS 16 /* workload counters per report */

#define AGENT_INTERVAL_MIN_MS 100
#define AGENT_INTERVAL_MAX_MS 3600000
#define AGENT_SHUTDOWN_MAX_MS 600000

/* Negative errno values; the freestanding half has no <errno.h>. */
#define AGENT_EINVAL  (-22)
#define AGENT_ENOSPC  (-28)
#define AGENT_EBADMSG (-74)

/* Frame types: 0x01..0x3f travel agent -> host, 0x41..0x7f host -> agent. */
enum agent_type {
	AGENT_T_HELLO = 0x01,
	AGENT_T_NEGOTIATION = 0x02,
	AGENT_T_REPORT = 0x03,
	AGENT_T_HEARTBEAT = 0x04,
	AGENT_T_PONG = 0x05,
	AGENT_T_SYNC_ACK = 0x06,
	AGENT_T_ACK = 0x07,
	AGENT_T_BYE = 0x08,
	AGENT_T_PING = 0x41,
	AGENT_T_SET_INTERVAL = 0x42,
	AGENT_T_RENEGOTIATE = 0x43,
	AGENT_T_SHUTDOWN = 0x44,
	AGENT_T_SYNC = 0x45,
};

/* Which frames a decoder accepts: the host decodes what agents send. */
enum agent_dir {
	AGENT_DIR_TO_HOST = 0,
	AGENT_DIR_TO_AGENT = 1,
};

enum agent_guest_kind {
	AGENT_GUEST_MICRO = 1,
	AGENT_GUEST_LINUX = 2,
};

enum agent_neg_status {
	AGENT_NEG_ACCEPTED = 0, /* the host accepted the guest's subset */
	AGENT_NEG_REFUSED = 1,	/* the host refused the negotiation */
	AGENT_NEG_NONE = 2,	/* no pv negotiation (no offer, or a Linux guest) */
};

enum agent_refusal {
	AGENT_REFUSE_NOT_NEEDED = 1,   /* the workload does not use it */
	AGENT_REFUSE_DISABLED = 2,     /* switched off by guest configuration */
	AGENT_REFUSE_UNSUPPORTED = 3,  /* the guest does not implement it */
	AGENT_REFUSE_HOST_REFUSED = 4, /* the host refused it at negotiation */
	AGENT_REFUSE_BAD_VERSION = 5,  /* hook version mismatch */
	AGENT_REFUSE_MAX = 5,
};

/* KVM pv state seen by a Linux guest (NEGOTIATION.kvm_flags). */
#define AGENT_KVM_SIGNATURE	(1u << 0) /* CPUID 0x40000000 reads "KVMKVMKVM" */
#define AGENT_KVM_CLOCK_IN_USE	(1u << 1) /* current clocksource is kvm-clock */
#define AGENT_KVM_STEAL_NONZERO (1u << 2) /* /proc/stat steal > 0 */
#define AGENT_KVM_CPUID_READ	(1u << 3) /* the CPUID leaves were read at all */
#define AGENT_KVM_FLAGS_KNOWN	0x0fu

enum agent_ack_status {
	AGENT_ACK_OK = 0,
	AGENT_ACK_BAD_VALUE = 1,
	AGENT_ACK_UNSUPPORTED = 2,
	AGENT_ACK_BUSY = 3,
	AGENT_ACK_MAX = 3,
};

enum agent_bye_reason {
	AGENT_BYE_SHUTDOWN = 1, /* the host asked for it */
	AGENT_BYE_EXIT = 2,	/* the agent stops on its own (signal, guest power-off) */
	AGENT_BYE_MAX = 2,
};

/* Why a frame was rejected. Stable: names appear in JSON and logs. */
enum agent_reason {
	AGENT_R_NONE = 0,
	AGENT_R_BAD_VERSION,	  /* header version is not 1 */
	AGENT_R_BAD_FLAGS,	  /* header flags not zero */
	AGENT_R_BAD_RESERVED,	  /* header reserved field not zero */
	AGENT_R_TOO_LONG,	  /* payload length above AGENT_MAX_PAYLOAD */
	AGENT_R_BAD_CRC,	  /* checksum mismatch */
	AGENT_R_UNKNOWN_TYPE,	  /* type not defined in v1 */
	AGENT_R_WRONG_DIR,	  /* a host->agent type sent to the host or vice versa */
	AGENT_R_BAD_LENGTH,	  /* payload size wrong for its type */
	AGENT_R_BAD_STRING,	  /* string too long, empty where required, or bad bytes */
	AGENT_R_BAD_COUNT,	  /* array count above its limit */
	AGENT_R_BAD_VALUE,	  /* field out of range */
	AGENT_R_PAYLOAD_RESERVED, /* reserved payload bytes not zero */
	AGENT_R_DUPLICATE,	  /* repeated hook id or counter name */
	AGENT_R_TRUNCATED,	  /* a partial frame never completed */
	AGENT_R_COUNT
};

/* ---- decoded messages -------------------------------------------------- */

struct agent_hello {
	uint16_t agent_version; /* major << 8 | minor */
	uint8_t proto_min, proto_max;
	uint8_t guest_kind; /* enum agent_guest_kind */
	uint8_t boot_id[16];
	char os[AGENT_OS_MAX + 1];
};

struct agent_refused {
	uint8_t hook;
	uint8_t reason; /* enum agent_refusal */
};

struct agent_negotiation {
	uint16_t pv_abi_version; /* 0 when there was no pv negotiation */
	uint8_t status;		 /* enum agent_neg_status */
	uint8_t nrefused;
	uint32_t offered, accepted; /* hook bitmaps; accepted is a subset of offered */
	uint32_t kvm_flags;	    /* AGENT_KVM_* */
	uint32_t kvm_features;	    /* CPUID 0x40000001 EAX as read */
	uint64_t steal_ticks;	    /* /proc/stat steal, USER_HZ ticks */
	uint32_t virtio_devices;    /* bit n: a virtio device of type n is present (never bit 0) */
	char clocksource[AGENT_CLOCKSOURCE_MAX + 1];
	struct agent_refused refused[AGENT_MAX_HOOKS];
};

struct agent_hook_stats {
	uint8_t hook;
	uint64_t calls, cycles, bytes, errors; /* cycles: rdtsc, summed over calls */
};

struct agent_counter {
	char name[AGENT_NAME_MAX + 1]; /* [a-z0-9_.]+ */
	uint64_t value;
};

struct agent_report {
	uint64_t uptime_ns;
	uint32_t interval_ms;
	uint32_t report_no;
	uint8_t nhooks, ncounters;
	struct agent_hook_stats hooks[AGENT_REPORT_HOOKS];
	struct agent_counter counters[AGENT_REPORT_COUNTERS];
};

struct agent_heartbeat {
	uint64_t uptime_ns;
	uint32_t reports_sent;
};

struct agent_ack {
	uint32_t req_seq;
	uint8_t req_type;
	uint8_t status; /* enum agent_ack_status */
};

struct agent_msg {
	uint8_t type; /* enum agent_type */
	uint32_t seq; /* the sender's frame counter */
	union {
		struct agent_hello hello;
		struct agent_negotiation neg;
		struct agent_report report;
		struct agent_heartbeat heartbeat;
		struct agent_ack ack;
		uint64_t nonce;	      /* PING, PONG, SYNC, SYNC_ACK */
		uint32_t interval_ms; /* SET_INTERVAL */
		uint32_t timeout_ms;  /* SHUTDOWN */
		uint8_t bye_reason;   /* BYE */
	} u;
};

/* ---- codec (freestanding) ---------------------------------------------- */

/* CRC-32C (Castagnoli, reflected, init and xor-out 0xffffffff). */
uint32_t agent_crc32c(uint32_t crc, const void *data, size_t len);

/*
 * Encodes m into buf[0..cap) as one frame. Returns the frame size, or
 * AGENT_ENOSPC when it does not fit, or AGENT_EINVAL when m breaks a rule the
 * decoder enforces (so an encoder never emits what a decoder rejects).
 */
int agent_encode(const struct agent_msg *m, void *buf, size_t cap);

/*
 * Decodes one complete frame from buf[0..len) (exactly one frame, as the
 * stream decoder hands it over). Returns 0 or AGENT_EBADMSG with *why set.
 */
int agent_decode_frame(const uint8_t *buf, size_t len, enum agent_dir dir, struct agent_msg *m,
		       enum agent_reason *why);

const char *agent_reason_name(enum agent_reason r);
const char *agent_type_name(uint8_t type);
const char *agent_hook_name(uint8_t hook); /* "hook7" style names past the known ones */

/* ---- stream decoder (freestanding) ------------------------------------- */

/*
 * Turns a byte stream into frames. Garbage before a frame's magic is skipped
 * and counted; a frame whose header or checksum is bad is rejected and the
 * search restarts one byte after its magic, so a real frame hidden inside
 * garbage is still found (resynchronisation).
 */
struct agent_dec {
	enum agent_dir dir;
	size_t start, len; /* buffered bytes are buf[start..len) */
	uint64_t frames, garbage_bytes, rejected;
	uint64_t by_reason[AGENT_R_COUNT];
	uint8_t buf[AGENT_FRAME_MAX];
};

void agent_dec_init(struct agent_dec *d, enum agent_dir dir);
/* Copies up to len bytes in; returns how many it took (0 when full: pop first). */
size_t agent_dec_push(struct agent_dec *d, const void *data, size_t len);
/*
 * Returns 1 with *m filled when a frame was decoded, 0 when more bytes are
 * needed, AGENT_EBADMSG when a frame was rejected (*why says why; call again).
 */
int agent_dec_pop(struct agent_dec *d, struct agent_msg *m, enum agent_reason *why);
/* Bytes held that do not yet form a frame. */
size_t agent_dec_pending(const struct agent_dec *d);
/* Gives up on a partial frame (timeout): counts AGENT_R_TRUNCATED and
 * restarts the search one byte later. No-op when nothing is pending. */
void agent_dec_drop_partial(struct agent_dec *d);

/* ---- agent state machine (freestanding) -------------------------------- */

/*
 * The agent side: hello -> negotiation result -> periodic reports and
 * heartbeats, answering host requests. It does no I/O: feed it received
 * bytes and the time, and it writes whole frames into the caller's buffer.
 *
 *     agent_sm_init(&sm, &cfg, now);
 *     loop:
 *         agent_sm_input(&sm, rx, n, now);             // bytes from the host
 *         n = agent_sm_output(&sm, tx, sizeof(tx), now); // bytes to send
 *         ev = agent_sm_events(&sm);                   // act on requests
 *         sleep until agent_sm_next_deadline(&sm) or input
 */
#define AGENT_EV_RENEGOTIATE (1u << 0) /* redo negotiation, then agent_sm_set_negotiation */
#define AGENT_EV_SHUTDOWN    (1u << 1) /* the host asked for a graceful shutdown */
#define AGENT_EV_INTERVAL    (1u << 2) /* the report interval changed */
#define AGENT_EV_SYNC	     (1u << 3) /* the host resynchronised */

/* Fills r->hooks/nhooks and r->counters/ncounters (the rest is the machine's). */
typedef void (*agent_fill_report_fn)(void *ctx, struct agent_report *r);

struct agent_sm_config {
	uint8_t guest_kind;
	uint8_t boot_id[16];
	const char *os;	       /* copied; at most AGENT_OS_MAX printable bytes */
	uint32_t interval_ms;  /* reports; 0: 1000 */
	uint32_t heartbeat_ms; /* heartbeat when nothing else was sent; 0: 1000 */
	agent_fill_report_fn fill_report;
	void *ctx;
};

enum agent_sm_state {
	AGENT_SM_RUNNING = 0,
	AGENT_SM_SHUTTING_DOWN, /* BYE queued */
	AGENT_SM_DONE,		/* BYE sent; stop */
};

#define AGENT_SM_REPLIES 8

struct agent_sm_reply {
	uint8_t type; /* PONG, SYNC_ACK or ACK */
	uint8_t req_type, status;
	uint32_t req_seq;
	uint64_t nonce;
};

struct agent_sm {
	struct agent_sm_config cfg;
	char os[AGENT_OS_MAX + 1];
	enum agent_sm_state state;
	uint32_t interval_ms, seq, reports_sent;
	uint64_t start_ns, next_report_ns, last_tx_ns;
	bool hello_pending, neg_pending, neg_set, bye_pending, final_report;
	uint8_t bye_reason;
	uint32_t events;
	uint32_t shutdown_timeout_ms;
	struct agent_negotiation neg;
	unsigned rhead, nreplies; /* a ring */
	struct agent_sm_reply replies[AGENT_SM_REPLIES];
	uint64_t replies_dropped, reports_invalid, frames_in, frames_out;
	struct agent_dec dec;
	struct agent_msg scratch;
};

/* Returns AGENT_EINVAL on a bad config (unknown guest kind, bad OS string). */
int agent_sm_init(struct agent_sm *sm, const struct agent_sm_config *cfg, uint64_t now_ns);
/* The negotiation result to send (again); call at start and after
 * AGENT_EV_RENEGOTIATE. Returns AGENT_EINVAL when n breaks the rules. */
int agent_sm_set_negotiation(struct agent_sm *sm, const struct agent_negotiation *n);
/* Processes bytes from the host. Malformed frames are counted in sm->dec. */
void agent_sm_input(struct agent_sm *sm, const void *data, size_t len, uint64_t now_ns);
/* Writes due frames (whole frames only) into buf; returns bytes written. */
size_t agent_sm_output(struct agent_sm *sm, void *buf, size_t cap, uint64_t now_ns);
/* Returns and clears the AGENT_EV_* bits raised since the last call. */
uint32_t agent_sm_events(struct agent_sm *sm);
/* When agent_sm_output next has something to send, absent input. */
uint64_t agent_sm_next_deadline(const struct agent_sm *sm);
/* The agent stops on its own: queue BYE (AGENT_BYE_EXIT). */
void agent_sm_bye(struct agent_sm *sm);
static inline bool agent_sm_done(const struct agent_sm *sm)
{
	return sm->state == AGENT_SM_DONE;
}

/*
 * One step of an agent over a byte channel: receives what recv returns
 * (called until it returns 0, at most 16 times), then sends what is due in
 * one call of send. buf (at least AGENT_FRAME_MAX bytes) is scratch.
 * Returns 0, or send's negative return value. For a microguest:
 *
 *     agent_sm_poll(&sm, recv, send, NULL, guest_time_ns(), buf, sizeof(buf));
 *
 * between work batches, with recv/send wrapping guest_agent_recv/send,
 * then act on agent_sm_events().
 */
typedef size_t (*agent_recv_fn)(void *ctx, void *buf, size_t cap);
typedef int (*agent_send_fn)(void *ctx, const void *buf, size_t len);
int agent_sm_poll(struct agent_sm *sm, agent_recv_fn recv, agent_send_fn send, void *ctx,
		  uint64_t now_ns, uint8_t *buf, size_t cap);

/* ---- guest-side statistics (freestanding) ------------------------------ */

/*
 * What a guest accumulates for its reports: per hook calls, rdtsc cycles,
 * bytes and errors, and named workload counters. agent_stats_fill is an
 * agent_fill_report_fn: pass it with ctx = the struct agent_stats.
 *
 *     uint64_t t0 = agent_rdtsc();
 *     ... use the console hook for n bytes ...
 *     agent_stats_hook(&st, PV_HOOK_CONSOLE, agent_rdtsc() - t0, n, failed);
 *     agent_stats_counter(&st, "console_bytes", total);
 */
struct agent_stats {
	uint8_t nhooks, ncounters;
	struct agent_hook_stats hooks[AGENT_REPORT_HOOKS];
	struct agent_counter counters[AGENT_REPORT_COUNTERS];
};

/* Counts one call; AGENT_EINVAL for a hook id >= 32 or a full table. */
int agent_stats_hook(struct agent_stats *s, uint8_t hook, uint64_t cycles, uint64_t bytes,
		     bool error);
/* Sets a counter (created on first use); AGENT_EINVAL on a bad name or a
 * full table. Names: 1..31 bytes of [a-z0-9_.]. */
int agent_stats_counter(struct agent_stats *s, const char *name, uint64_t value);
void agent_stats_fill(void *stats, struct agent_report *r);

#if defined(__x86_64__)
static inline uint64_t agent_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
#endif

/* ---- host-side session (hosted: pvm_agent, json-c) ---------------------- */

struct json_object;
struct agent_host;

struct agent_host_config {
	uint32_t frame_rate;	     /* frames per second accepted; 0: 200 */
	uint32_t frame_burst;	     /* 0: 400 */
	uint32_t byte_rate;	     /* bytes per second decoded; 0: 262144 */
	uint32_t byte_burst;	     /* 0: 65536 */
	uint32_t partial_timeout_ms; /* drop a partial frame after this; 0: 1000 */
	uint32_t sync_retry_ms;	     /* resend SYNC while unanswered; 0: 1000 */
	uint64_t nonce_seed;	     /* first nonce; vary it per session */
};

/* Allocates a session; it starts by queueing a SYNC. NULL on ENOMEM. */
struct agent_host *agent_host_new(const struct agent_host_config *cfg, uint64_t now_ns);
void agent_host_free(struct agent_host *h);
/* Bytes from the guest. Malformed frames are counted, a flood is dropped
 * past the token buckets; never fails. */
void agent_host_feed(struct agent_host *h, const void *data, size_t len, uint64_t now_ns);
/* Copies queued bytes for the guest into buf; returns how many. */
size_t agent_host_output(struct agent_host *h, void *buf, size_t cap, uint64_t now_ns);
uint64_t agent_host_next_deadline(struct agent_host *h);
/* Requests; 0, or -EAGAIN when the outgoing queue is full, -EINVAL on a
 * value out of range (interval 100..3600000 ms, timeout 0..600000 ms). */
int agent_host_ping(struct agent_host *h, uint64_t now_ns);
int agent_host_set_interval(struct agent_host *h, uint32_t interval_ms, uint64_t now_ns);
int agent_host_renegotiate(struct agent_host *h, uint64_t now_ns);
int agent_host_shutdown(struct agent_host *h, uint32_t timeout_ms, uint64_t now_ns);
int agent_host_sync(struct agent_host *h, uint64_t now_ns);

/* Copies of the latest state; 0, or -ENOENT when none came yet. */
int agent_host_report(struct agent_host *h, struct agent_report *out);
int agent_host_negotiation(struct agent_host *h, struct agent_negotiation *out);
int agent_host_hello(struct agent_host *h, struct agent_hello *out);
/* True once the agent said BYE (and nothing since). */
bool agent_host_gone(struct agent_host *h);
/* True when a report exists and none came for 3 of its intervals. */
bool agent_host_report_stale(struct agent_host *h, uint64_t now_ns);

struct agent_host_counters {
	uint64_t bytes_in, frames, garbage_bytes, rejected;
	uint64_t by_reason[AGENT_R_COUNT];
	uint64_t rate_limited_frames, rate_limited_bytes;
	uint64_t stale_replies, syncs_sent, syncs_answered, pings_sent, pongs;
};
void agent_host_counters(struct agent_host *h, struct agent_host_counters *out);

/*
 * Callback-shaped feed for a VMM's agent-channel receive hook
 * (hv_agent_rx_fn): opaque is the struct agent_host, the time is
 * pvm_now_ns().
 */
void agent_host_rx(void *opaque, const void *buf, size_t len);

/*
 * The agent state as a new JSON object for the control socket's `agent`
 * request (schema in docs/agent-protocol.md); the caller owns the reference.
 * NULL on ENOMEM.
 */
struct json_object *agent_host_to_json(struct agent_host *h, uint64_t now_ns);

/*
 * Merges the guest's view into the VMM's stats document (as hv_stats_json
 * builds it): for each hook in the last report, stats.hooks.<name>.guest =
 * {calls, cycles, cycles_per_call, bytes, errors}, and stats.agent = {state,
 * report_no, age_ms, stale, counters}. Hooks the VMM does not list are added.
 * 0, or -EINVAL when stats is not an object, -ENOMEM.
 */
int agent_host_merge_stats(struct agent_host *h, struct json_object *stats, uint64_t now_ns);

#endif /* PVM_AGENT_H */
