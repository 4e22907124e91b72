/* SPDX-License-Identifier: MIT */
/*
 * The agent state machine shared by microguests (over the agent-channel
 * hook) and pvm-agent (over a tty): hello, negotiation result, periodic
 * reports and heartbeats, and answers to host requests. I/O-free and
 * freestanding: the caller moves the bytes and supplies the clock.
 */
#include "agent/agent.h"
#include "agent/wire.h"

#define DEFAULT_INTERVAL_MS  1000
#define DEFAULT_HEARTBEAT_MS 1000
#define MS		     1000000ull

static bool os_ok(const char *os)
{
	size_t n;

	if (!os)
		return false;
	n = wire_strnlen(os, AGENT_OS_MAX + 1);
	if (n == 0 || n > AGENT_OS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (os[i] < 0x20 || os[i] > 0x7e)
			return false;
	return true;
}

int agent_sm_init(struct agent_sm *sm, const struct agent_sm_config *cfg, uint64_t now_ns)
{
	uint32_t interval = cfg->interval_ms ? cfg->interval_ms : DEFAULT_INTERVAL_MS;

	if (cfg->guest_kind != AGENT_GUEST_MICRO && cfg->guest_kind != AGENT_GUEST_LINUX)
		return AGENT_EINVAL;
	if (!os_ok(cfg->os) || interval < AGENT_INTERVAL_MIN_MS || interval > AGENT_INTERVAL_MAX_MS)
		return AGENT_EINVAL;
	__builtin_memset(sm, 0, sizeof(*sm));
	sm->cfg = *cfg;
	wire_copy(sm->os, cfg->os, wire_strnlen(cfg->os, AGENT_OS_MAX));
	sm->cfg.os = sm->os;
	if (!sm->cfg.heartbeat_ms)
		sm->cfg.heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	sm->interval_ms = interval;
	sm->start_ns = now_ns;
	sm->last_tx_ns = now_ns;
	sm->next_report_ns = now_ns + interval * MS;
	sm->hello_pending = true;
	agent_dec_init(&sm->dec, AGENT_DIR_TO_AGENT);
	return 0;
}

int agent_sm_set_negotiation(struct agent_sm *sm, const struct agent_negotiation *n)
{
	uint8_t tmp[AGENT_HDR_SIZE + 2 * AGENT_MAX_HOOKS + 64];
	struct agent_msg *m = &sm->scratch;

	/* Encoding it once is how the rules are checked: same code as the wire. */
	m->type = AGENT_T_NEGOTIATION;
	m->seq = 0;
	m->u.neg = *n;
	if (agent_encode(m, tmp, sizeof(tmp)) < 0)
		return AGENT_EINVAL;
	sm->neg = *n;
	sm->neg_set = true;
	sm->neg_pending = true;
	return 0;
}

static void queue_reply(struct agent_sm *sm, uint8_t type, const struct agent_msg *req,
			uint8_t status)
{
	struct agent_sm_reply *r;

	/* Only the newest ping matters to the host: a queued PONG takes its
	 * nonce, so a ping flood costs one reply and the last ping is answered. */
	for (unsigned i = 0; type == AGENT_T_PONG && i < sm->nreplies; i++) {
		r = &sm->replies[(sm->rhead + i) % AGENT_SM_REPLIES];
		if (r->type == AGENT_T_PONG) {
			r->nonce = req->u.nonce;
			return;
		}
	}
	if (sm->nreplies == AGENT_SM_REPLIES) {
		sm->replies_dropped++;
		return;
	}
	r = &sm->replies[(sm->rhead + sm->nreplies++) % AGENT_SM_REPLIES];
	r->type = type;
	r->req_type = req->type;
	r->req_seq = req->seq;
	r->status = status;
	r->nonce = req->u.nonce;
}

static void start_shutdown(struct agent_sm *sm, uint8_t reason)
{
	sm->state = AGENT_SM_SHUTTING_DOWN;
	sm->bye_pending = true;
	sm->bye_reason = reason;
	sm->final_report = true;
}

static void handle(struct agent_sm *sm, const struct agent_msg *m, uint64_t now_ns)
{
	bool running = sm->state == AGENT_SM_RUNNING;

	sm->frames_in++;
	switch (m->type) {
	case AGENT_T_PING:
		queue_reply(sm, AGENT_T_PONG, m, 0);
		break;
	case AGENT_T_SYNC:
		/* Replies queued before the sync answer requests the host has
		 * given up on; the host then wants the full state again. */
		sm->nreplies = 0;
		sm->rhead = 0;
		queue_reply(sm, AGENT_T_SYNC_ACK, m, 0);
		sm->hello_pending = true;
		sm->neg_pending = sm->neg_set;
		sm->events |= AGENT_EV_SYNC;
		break;
	case AGENT_T_SET_INTERVAL:
		if (!running) {
			queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_BUSY);
			break;
		}
		sm->interval_ms = m->u.interval_ms;
		sm->next_report_ns = now_ns + sm->interval_ms * MS;
		sm->events |= AGENT_EV_INTERVAL;
		queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_OK);
		break;
	case AGENT_T_RENEGOTIATE:
		if (!running) {
			queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_BUSY);
			break;
		}
		sm->events |= AGENT_EV_RENEGOTIATE;
		queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_OK);
		break;
	case AGENT_T_SHUTDOWN:
		if (!running) {
			queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_BUSY);
			break;
		}
		sm->shutdown_timeout_ms = m->u.timeout_ms;
		sm->events |= AGENT_EV_SHUTDOWN;
		queue_reply(sm, AGENT_T_ACK, m, AGENT_ACK_OK);
		start_shutdown(sm, AGENT_BYE_SHUTDOWN);
		break;
	}
}

void agent_sm_input(struct agent_sm *sm, const void *data, size_t len, uint64_t now_ns)
{
	const uint8_t *p = data;
	enum agent_reason why;

	while (len) {
		size_t n = agent_dec_push(&sm->dec, p, len);
		int r;

		p += n;
		len -= n;
		while ((r = agent_dec_pop(&sm->dec, &sm->scratch, &why)) != 0)
			if (r > 0)
				handle(sm, &sm->scratch, now_ns);
		/* The decoder always drains a full buffer; this only guards it. */
		if (!n && agent_dec_pending(&sm->dec) == sizeof(sm->dec.buf))
			agent_dec_drop_partial(&sm->dec);
	}
}

struct out {
	uint8_t *buf;
	size_t cap, off;
};

/* Encodes sm->scratch; returns bytes written or a negative code. */
static int emit(struct agent_sm *sm, struct out *o, uint64_t now_ns)
{
	int n;

	sm->scratch.seq = sm->seq;
	n = agent_encode(&sm->scratch, o->buf + o->off, o->cap - o->off);
	if (n < 0)
		return n;
	o->off += (size_t)n;
	sm->seq++;
	sm->frames_out++;
	sm->last_tx_ns = now_ns;
	return n;
}

/* The replies form a ring (no shifting: microguests need not have memmove). */
static bool emit_replies(struct agent_sm *sm, struct out *o, uint64_t now_ns)
{
	while (sm->nreplies) {
		const struct agent_sm_reply *r = &sm->replies[sm->rhead];
		struct agent_msg *m = &sm->scratch;

		m->type = r->type;
		if (r->type == AGENT_T_ACK) {
			m->u.ack.req_seq = r->req_seq;
			m->u.ack.req_type = r->req_type;
			m->u.ack.status = r->status;
		} else {
			m->u.nonce = r->nonce;
		}
		if (emit(sm, o, now_ns) < 0)
			return false;
		sm->rhead = (sm->rhead + 1) % AGENT_SM_REPLIES;
		sm->nreplies--;
	}
	return true;
}

static bool emit_hello(struct agent_sm *sm, struct out *o, uint64_t now_ns)
{
	struct agent_hello *h = &sm->scratch.u.hello;

	sm->scratch.type = AGENT_T_HELLO;
	__builtin_memset(h, 0, sizeof(*h));
	h->agent_version = AGENT_VERSION_MAJOR << 8 | AGENT_VERSION_MINOR;
	h->proto_min = AGENT_PROTO_VERSION;
	h->proto_max = AGENT_PROTO_VERSION;
	h->guest_kind = sm->cfg.guest_kind;
	wire_copy(h->boot_id, sm->cfg.boot_id, sizeof(h->boot_id));
	wire_copy(h->os, sm->os, sizeof(h->os));
	return emit(sm, o, now_ns) > 0;
}

/* Returns false only when the report did not fit (retry next call). */
static bool emit_report(struct agent_sm *sm, struct out *o, uint64_t now_ns)
{
	struct agent_report *r = &sm->scratch.u.report;
	int n;

	sm->scratch.type = AGENT_T_REPORT;
	__builtin_memset(r, 0, sizeof(*r));
	if (sm->cfg.fill_report)
		sm->cfg.fill_report(sm->cfg.ctx, r);
	r->uptime_ns = now_ns - sm->start_ns;
	r->interval_ms = sm->interval_ms;
	r->report_no = sm->reports_sent + 1;
	n = emit(sm, o, now_ns);
	if (n == AGENT_ENOSPC)
		return false;
	if (n < 0)
		sm->reports_invalid++; /* the caller's statistics broke a rule */
	else
		sm->reports_sent++;
	sm->final_report = false;
	sm->next_report_ns = now_ns + sm->interval_ms * MS;
	return true;
}

size_t agent_sm_output(struct agent_sm *sm, void *buf, size_t cap, uint64_t now_ns)
{
	struct out o = {.buf = buf, .cap = cap, .off = 0};
	struct agent_msg *m = &sm->scratch;

	if (sm->state == AGENT_SM_DONE)
		return 0;
	if (!emit_replies(sm, &o, now_ns))
		goto out;
	if (sm->hello_pending) {
		if (!emit_hello(sm, &o, now_ns))
			goto out;
		sm->hello_pending = false;
	}
	if (sm->neg_pending) {
		m->type = AGENT_T_NEGOTIATION;
		m->u.neg = sm->neg;
		if (emit(sm, &o, now_ns) < 0)
			goto out;
		sm->neg_pending = false;
	}
	if (sm->final_report || (sm->state == AGENT_SM_RUNNING && now_ns >= sm->next_report_ns))
		if (!emit_report(sm, &o, now_ns))
			goto out;
	if (sm->state == AGENT_SM_RUNNING && now_ns - sm->last_tx_ns >= sm->cfg.heartbeat_ms * MS) {
		m->type = AGENT_T_HEARTBEAT;
		m->u.heartbeat.uptime_ns = now_ns - sm->start_ns;
		m->u.heartbeat.reports_sent = sm->reports_sent;
		if (emit(sm, &o, now_ns) < 0)
			goto out;
	}
	if (sm->bye_pending) {
		m->type = AGENT_T_BYE;
		m->u.bye_reason = sm->bye_reason;
		if (emit(sm, &o, now_ns) < 0)
			goto out;
		sm->bye_pending = false;
		sm->state = AGENT_SM_DONE;
	}
out:
	return o.off;
}

uint32_t agent_sm_events(struct agent_sm *sm)
{
	uint32_t ev = sm->events;

	sm->events = 0;
	return ev;
}

uint64_t agent_sm_next_deadline(const struct agent_sm *sm)
{
	uint64_t hb;

	if (sm->state == AGENT_SM_DONE)
		return UINT64_MAX;
	if (sm->nreplies || sm->hello_pending || sm->neg_pending || sm->bye_pending ||
	    sm->final_report)
		return 0;
	hb = sm->last_tx_ns + sm->cfg.heartbeat_ms * MS;
	return hb < sm->next_report_ns ? hb : sm->next_report_ns;
}

void agent_sm_bye(struct agent_sm *sm)
{
	if (sm->state == AGENT_SM_RUNNING)
		start_shutdown(sm, AGENT_BYE_EXIT);
}

int agent_sm_poll(struct agent_sm *sm, agent_recv_fn recv, agent_send_fn send, void *ctx,
		  uint64_t now_ns, uint8_t *buf, size_t cap)
{
	size_t n;

	/* Bounded, so a host that floods the channel cannot starve the guest. */
	for (int i = 0; i < 16; i++) {
		n = recv(ctx, buf, cap);
		if (!n)
			break;
		agent_sm_input(sm, buf, n, now_ns);
	}
	n = agent_sm_output(sm, buf, cap, now_ns);
	if (n) {
		int ret = send(ctx, buf, n);

		if (ret < 0)
			return ret;
	}
	return 0;
}
