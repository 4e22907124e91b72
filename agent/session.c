/* SPDX-License-Identifier: MIT */
/*
 * The host-side agent session a VMM keeps per guest: decodes the agent's
 * frames, keeps its latest hello, negotiation result and report, queues
 * requests, runs the sync handshake after garbage, and rate-limits floods
 * with two token buckets (frames and bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/session.h"
#include "common/common.h"

#define MS 1000000ull

_Static_assert(AGENT_EINVAL == -EINVAL, "AGENT_EINVAL must be -EINVAL");
_Static_assert(AGENT_ENOSPC == -ENOSPC, "AGENT_ENOSPC must be -ENOSPC");
_Static_assert(AGENT_EBADMSG == -EBADMSG, "AGENT_EBADMSG must be -EBADMSG");

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

static void bucket_init(struct session_bucket *b, uint32_t rate, uint32_t burst, uint64_t now)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last_ns = now;
}

static void bucket_refill(struct session_bucket *b, uint64_t now)
{
	if (now > b->last_ns) {
		b->tokens += (double)(now - b->last_ns) * b->rate / 1e9;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	b->last_ns = now;
}

static int enqueue(struct agent_host *h, struct agent_msg *m)
{
	int n;

	m->seq = h->seq;
	n = agent_encode(m, h->out + h->out_len, sizeof(h->out) - h->out_len);
	if (n == AGENT_ENOSPC)
		return -EAGAIN;
	if (n < 0)
		return n;
	h->out_len += (size_t)n;
	h->seq++;
	return 0;
}

static int send_sync(struct agent_host *h, uint64_t now_ns)
{
	struct agent_msg m = {.type = AGENT_T_SYNC};
	int ret;

	m.u.nonce = h->next_nonce;
	ret = enqueue(h, &m);
	if (ret)
		return ret;
	h->sync_nonce = h->next_nonce++;
	h->syncing = true;
	h->last_sync_ns = now_ns;
	h->syncs_sent++;
	return 0;
}

struct agent_host *agent_host_new(const struct agent_host_config *cfg, uint64_t now_ns)
{
	static const struct agent_host_config defaults;
	struct agent_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	h->cfg = cfg ? *cfg : defaults;
	h->cfg.frame_rate = or_default(h->cfg.frame_rate, 200);
	h->cfg.frame_burst = or_default(h->cfg.frame_burst, 400);
	h->cfg.byte_rate = or_default(h->cfg.byte_rate, 256 * 1024);
	h->cfg.byte_burst = or_default(h->cfg.byte_burst, 64 * 1024);
	h->cfg.partial_timeout_ms = or_default(h->cfg.partial_timeout_ms, 1000);
	h->cfg.sync_retry_ms = or_default(h->cfg.sync_retry_ms, 1000);
	h->next_nonce = h->cfg.nonce_seed ? h->cfg.nonce_seed : now_ns ^ 0x9e3779b97f4a7c15ull;
	agent_dec_init(&h->dec, AGENT_DIR_TO_HOST);
	bucket_init(&h->frame_tb, h->cfg.frame_rate, h->cfg.frame_burst, now_ns);
	bucket_init(&h->byte_tb, h->cfg.byte_rate, h->cfg.byte_burst, now_ns);
	/* The queue is empty, so the first SYNC always fits. */
	send_sync(h, now_ns);
	return h;
}

void agent_host_free(struct agent_host *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void lock(struct agent_host *h)
{
	pthread_mutex_lock(&h->lock);
}

static void unlock(struct agent_host *h)
{
	pthread_mutex_unlock(&h->lock);
}

/* A reply while syncing answers a request from before the sync: stale. */
static void handle_reply(struct agent_host *h, const struct agent_msg *m, uint64_t now_ns)
{
	switch (m->type) {
	case AGENT_T_SYNC_ACK:
		if (h->syncing && m->u.nonce == h->sync_nonce) {
			h->syncing = false;
			h->syncs_answered++;
			return;
		}
		break;
	case AGENT_T_PONG:
		if (!h->syncing && h->ping_outstanding && m->u.nonce == h->ping_nonce) {
			h->ping_outstanding = false;
			h->pongs++;
			h->last_rtt_ns = now_ns - h->ping_sent_ns;
			return;
		}
		break;
	case AGENT_T_ACK:
		if (!h->syncing) {
			h->ack = m->u.ack;
			h->have_ack = true;
			h->ack_ns = now_ns;
			return;
		}
		break;
	}
	h->stale_replies++;
}

static void handle(struct agent_host *h, const struct agent_msg *m, uint64_t now_ns)
{
	h->last_frame_ns = now_ns;
	switch (m->type) {
	case AGENT_T_HELLO:
		h->hello = m->u.hello;
		h->have_hello = true;
		h->hello_ns = now_ns;
		h->have_bye = false;
		break;
	case AGENT_T_NEGOTIATION:
		h->neg = m->u.neg;
		h->have_neg = true;
		h->neg_ns = now_ns;
		break;
	case AGENT_T_REPORT:
		h->report = m->u.report;
		h->have_report = true;
		h->report_ns = now_ns;
		break;
	case AGENT_T_HEARTBEAT:
		h->heartbeat = m->u.heartbeat;
		h->have_heartbeat = true;
		h->heartbeat_ns = now_ns;
		break;
	case AGENT_T_BYE:
		h->bye_reason = m->u.bye_reason;
		h->have_bye = true;
		h->bye_ns = now_ns;
		break;
	default:
		handle_reply(h, m, now_ns);
		break;
	}
}

static void drain(struct agent_host *h, uint64_t now_ns)
{
	enum agent_reason why;
	int r;

	while ((r = agent_dec_pop(&h->dec, &h->msg, &why)) != 0) {
		if (r < 0) {
			h->last_reject = why;
			h->last_reject_ns = now_ns;
			continue;
		}
		bucket_refill(&h->frame_tb, now_ns);
		if (h->frame_tb.tokens < 1) {
			h->rl_frames++;
			continue;
		}
		h->frame_tb.tokens -= 1;
		handle(h, &h->msg, now_ns);
	}
}

/* Gives up on a partial frame that has waited too long, then rescans. */
static void expire_partial(struct agent_host *h, uint64_t now_ns)
{
	if (!h->partial_since_ns || now_ns - h->partial_since_ns < h->cfg.partial_timeout_ms * MS)
		return;
	h->last_reject = AGENT_R_TRUNCATED;
	h->last_reject_ns = now_ns;
	agent_dec_drop_partial(&h->dec);
	drain(h, now_ns);
	h->partial_since_ns = agent_dec_pending(&h->dec) ? now_ns : 0;
}

/* After garbage or a rejected frame, resynchronise unless already at it. */
static void maybe_resync(struct agent_host *h, uint64_t garbage, uint64_t rejected, uint64_t now_ns)
{
	if (h->dec.garbage_bytes == garbage && h->dec.rejected == rejected)
		return;
	if (h->syncing)
		return;
	send_sync(h, now_ns);
}

void agent_host_feed(struct agent_host *h, const void *data, size_t len, uint64_t now_ns)
{
	const uint8_t *p = data;
	uint64_t garbage, rejected, frames;
	size_t allowed;

	lock(h);
	garbage = h->dec.garbage_bytes;
	rejected = h->dec.rejected;
	h->bytes_in += len;
	expire_partial(h, now_ns);
	frames = h->dec.frames + h->dec.rejected + h->dec.garbage_bytes;
	bucket_refill(&h->byte_tb, now_ns);
	allowed = h->byte_tb.tokens < (double)len ? (size_t)h->byte_tb.tokens : len;
	h->byte_tb.tokens -= (double)allowed;
	h->rl_bytes += len - allowed;
	while (allowed) {
		size_t n = agent_dec_push(&h->dec, p, allowed);

		p += n;
		allowed -= n;
		drain(h, now_ns);
		if (!n && agent_dec_pending(&h->dec) == sizeof(h->dec.buf))
			agent_dec_drop_partial(&h->dec);
	}
	/* The clock of a partial frame starts when it does: restart it when
	 * the decoder moved past what it held before. */
	if (!agent_dec_pending(&h->dec))
		h->partial_since_ns = 0;
	else if (!h->partial_since_ns ||
		 frames != h->dec.frames + h->dec.rejected + h->dec.garbage_bytes)
		h->partial_since_ns = now_ns;
	maybe_resync(h, garbage, rejected, now_ns);
	unlock(h);
}

void agent_host_rx(void *opaque, const void *buf, size_t len)
{
	agent_host_feed(opaque, buf, len, pvm_now_ns());
}

size_t agent_host_output(struct agent_host *h, void *buf, size_t cap, uint64_t now_ns)
{
	size_t n;

	lock(h);
	expire_partial(h, now_ns);
	if (h->syncing && now_ns - h->last_sync_ns >= h->cfg.sync_retry_ms * MS)
		send_sync(h, now_ns);
	n = h->out_len < cap ? h->out_len : cap;
	memcpy(buf, h->out, n);
	memmove(h->out, h->out + n, h->out_len - n);
	h->out_len -= n;
	unlock(h);
	return n;
}

uint64_t agent_host_next_deadline(struct agent_host *h)
{
	uint64_t t = UINT64_MAX;

	lock(h);
	if (h->out_len)
		t = 0;
	if (h->syncing && h->last_sync_ns + h->cfg.sync_retry_ms * MS < t)
		t = h->last_sync_ns + h->cfg.sync_retry_ms * MS;
	if (h->partial_since_ns && h->partial_since_ns + h->cfg.partial_timeout_ms * MS < t)
		t = h->partial_since_ns + h->cfg.partial_timeout_ms * MS;
	unlock(h);
	return t;
}

int agent_host_ping(struct agent_host *h, uint64_t now_ns)
{
	struct agent_msg m = {.type = AGENT_T_PING};
	int ret;

	lock(h);
	m.u.nonce = h->next_nonce;
	ret = enqueue(h, &m);
	if (!ret) {
		h->ping_nonce = h->next_nonce++;
		h->ping_outstanding = true;
		h->ping_sent_ns = now_ns;
		h->pings_sent++;
	}
	unlock(h);
	return ret;
}

static int enqueue_locked(struct agent_host *h, struct agent_msg *m)
{
	int ret;

	lock(h);
	ret = enqueue(h, m);
	unlock(h);
	return ret;
}

int agent_host_set_interval(struct agent_host *h, uint32_t interval_ms, uint64_t now_ns)
{
	struct agent_msg m = {.type = AGENT_T_SET_INTERVAL};

	(void)now_ns;
	if (interval_ms < AGENT_INTERVAL_MIN_MS || interval_ms > AGENT_INTERVAL_MAX_MS)
		return -EINVAL;
	m.u.interval_ms = interval_ms;
	return enqueue_locked(h, &m);
}

int agent_host_renegotiate(struct agent_host *h, uint64_t now_ns)
{
	struct agent_msg m = {.type = AGENT_T_RENEGOTIATE};

	(void)now_ns;
	return enqueue_locked(h, &m);
}

int agent_host_shutdown(struct agent_host *h, uint32_t timeout_ms, uint64_t now_ns)
{
	struct agent_msg m = {.type = AGENT_T_SHUTDOWN};

	(void)now_ns;
	if (timeout_ms > AGENT_SHUTDOWN_MAX_MS)
		return -EINVAL;
	m.u.timeout_ms = timeout_ms;
	return enqueue_locked(h, &m);
}

int agent_host_sync(struct agent_host *h, uint64_t now_ns)
{
	int ret;

	lock(h);
	ret = send_sync(h, now_ns);
	unlock(h);
	return ret;
}

/* Copies *src to *out under the lock when have is set. */
static int copy_out(struct agent_host *h, const bool *have, const void *src, void *out, size_t size)
{
	int ret = -ENOENT;

	lock(h);
	if (*have) {
		memcpy(out, src, size);
		ret = 0;
	}
	unlock(h);
	return ret;
}

int agent_host_report(struct agent_host *h, struct agent_report *out)
{
	return copy_out(h, &h->have_report, &h->report, out, sizeof(*out));
}

int agent_host_negotiation(struct agent_host *h, struct agent_negotiation *out)
{
	return copy_out(h, &h->have_neg, &h->neg, out, sizeof(*out));
}

int agent_host_hello(struct agent_host *h, struct agent_hello *out)
{
	return copy_out(h, &h->have_hello, &h->hello, out, sizeof(*out));
}

bool agent_host_gone(struct agent_host *h)
{
	return h->have_bye;
}

bool session_report_stale(const struct agent_host *h, uint64_t now_ns)
{
	if (!h->have_report)
		return false;
	return now_ns - h->report_ns > 3ull * h->report.interval_ms * MS;
}

bool agent_host_report_stale(struct agent_host *h, uint64_t now_ns)
{
	bool stale;

	lock(h);
	stale = session_report_stale(h, now_ns);
	unlock(h);
	return stale;
}

void agent_host_counters(struct agent_host *h, struct agent_host_counters *out)
{
	lock(h);
	out->bytes_in = h->bytes_in;
	out->frames = h->dec.frames;
	out->garbage_bytes = h->dec.garbage_bytes;
	out->rejected = h->dec.rejected;
	memcpy(out->by_reason, h->dec.by_reason, sizeof(out->by_reason));
	out->rate_limited_frames = h->rl_frames;
	out->rate_limited_bytes = h->rl_bytes;
	out->stale_replies = h->stale_replies;
	out->syncs_sent = h->syncs_sent;
	out->syncs_answered = h->syncs_answered;
	out->pings_sent = h->pings_sent;
	out->pongs = h->pongs;
	unlock(h);
}
