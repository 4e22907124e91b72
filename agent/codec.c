/* SPDX-License-Identifier: MIT */
/*
 * Agent protocol v1 codec: one frame to and from struct agent_msg. The wire
 * layout is in docs/agent-protocol.md. Freestanding: no libc.
 *
 * Decoding is two steps: the wire step checks sizes, counts, string bytes and
 * reserved bytes while copying fields out; msg_check() then checks values
 * (ranges, subsets, duplicates). The encoder runs the same msg_check(), so
 * it cannot emit a frame the decoder would reject.
 */
#include "agent/agent.h"
#include "agent/wire.h"

/* ---- names --------------------------------------------------------------- */

static const char *const reason_names[AGENT_R_COUNT] = {
    [AGENT_R_NONE] = "none",
    [AGENT_R_BAD_VERSION] = "bad_version",
    [AGENT_R_BAD_FLAGS] = "bad_flags",
    [AGENT_R_BAD_RESERVED] = "bad_reserved",
    [AGENT_R_TOO_LONG] = "too_long",
    [AGENT_R_BAD_CRC] = "bad_crc",
    [AGENT_R_UNKNOWN_TYPE] = "unknown_type",
    [AGENT_R_WRONG_DIR] = "wrong_direction",
    [AGENT_R_BAD_LENGTH] = "bad_length",
    [AGENT_R_BAD_STRING] = "bad_string",
    [AGENT_R_BAD_COUNT] = "bad_count",
    [AGENT_R_BAD_VALUE] = "bad_value",
    [AGENT_R_PAYLOAD_RESERVED] = "payload_reserved",
    [AGENT_R_DUPLICATE] = "duplicate",
    [AGENT_R_TRUNCATED] = "truncated",
};

const char *agent_reason_name(enum agent_reason r)
{
	if ((unsigned)r >= AGENT_R_COUNT)
		return "unknown";
	return reason_names[r];
}

const char *agent_type_name(uint8_t type)
{
	switch (type) {
	case AGENT_T_HELLO:
		return "hello";
	case AGENT_T_NEGOTIATION:
		return "negotiation";
	case AGENT_T_REPORT:
		return "report";
	case AGENT_T_HEARTBEAT:
		return "heartbeat";
	case AGENT_T_PONG:
		return "pong";
	case AGENT_T_SYNC_ACK:
		return "sync_ack";
	case AGENT_T_ACK:
		return "ack";
	case AGENT_T_BYE:
		return "bye";
	case AGENT_T_PING:
		return "ping";
	case AGENT_T_SET_INTERVAL:
		return "set_interval";
	case AGENT_T_RENEGOTIATE:
		return "renegotiate";
	case AGENT_T_SHUTDOWN:
		return "shutdown";
	case AGENT_T_SYNC:
		return "sync";
	}
	return "unknown";
}

#define HOOK_NAME(id, name, bit) [bit] = name,
static const char *const hook_names[] = {PV_HOOKS(HOOK_NAME) PV_HOOKS_RESERVED(HOOK_NAME)};
#undef HOOK_NAME

static const char *const hook_ids[AGENT_MAX_HOOKS] = {
    "hook0",  "hook1",	"hook2",  "hook3",  "hook4",  "hook5",	"hook6",  "hook7",
    "hook8",  "hook9",	"hook10", "hook11", "hook12", "hook13", "hook14", "hook15",
    "hook16", "hook17", "hook18", "hook19", "hook20", "hook21", "hook22", "hook23",
    "hook24", "hook25", "hook26", "hook27", "hook28", "hook29", "hook30", "hook31",
};

const char *agent_hook_name(uint8_t hook)
{
	if (hook < sizeof(hook_names) / sizeof(hook_names[0]) && hook_names[hook])
		return hook_names[hook];
	if (hook < AGENT_MAX_HOOKS)
		return hook_ids[hook];
	return "invalid";
}

/* ---- value rules shared by encoder and decoder --------------------------- */

static bool type_known(uint8_t t)
{
	return (t >= AGENT_T_HELLO && t <= AGENT_T_BYE) || (t >= AGENT_T_PING && t <= AGENT_T_SYNC);
}

static bool type_to_host(uint8_t t)
{
	return t < 0x40;
}

static bool printable(char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Strings in a struct: NUL-terminated within max, every byte allowed. */
static bool str_ok(const char *s, size_t max, size_t min, bool (*ok)(char))
{
	size_t n = wire_strnlen(s, max + 1);

	if (n > max || n < min)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ok(s[i]))
			return false;
	return true;
}

static bool names_equal(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	return a[i] == b[i];
}

static enum agent_reason check_neg(const struct agent_negotiation *n)
{
	uint32_t seen = 0;

	if (n->nrefused > AGENT_MAX_HOOKS)
		return AGENT_R_BAD_COUNT;
	if (!str_ok(n->clocksource, AGENT_CLOCKSOURCE_MAX, 0, printable))
		return AGENT_R_BAD_STRING;
	if (n->status > AGENT_NEG_NONE)
		return AGENT_R_BAD_VALUE;
	if (n->accepted & ~n->offered)
		return AGENT_R_BAD_VALUE;
	if (n->status != AGENT_NEG_ACCEPTED && n->accepted)
		return AGENT_R_BAD_VALUE;
	if (n->kvm_flags & ~AGENT_KVM_FLAGS_KNOWN)
		return AGENT_R_BAD_VALUE;
	if (n->virtio_devices & 1) /* virtio device ID 0 is reserved */
		return AGENT_R_BAD_VALUE;
	for (unsigned i = 0; i < n->nrefused; i++) {
		const struct agent_refused *r = &n->refused[i];

		if (r->hook >= AGENT_MAX_HOOKS || r->reason < 1 || r->reason > AGENT_REFUSE_MAX)
			return AGENT_R_BAD_VALUE;
		if (n->accepted & (1u << r->hook))
			return AGENT_R_BAD_VALUE;
		if (seen & (1u << r->hook))
			return AGENT_R_DUPLICATE;
		seen |= 1u << r->hook;
	}
	return AGENT_R_NONE;
}

static enum agent_reason check_report(const struct agent_report *r)
{
	uint32_t seen = 0;

	if (r->nhooks > AGENT_REPORT_HOOKS || r->ncounters > AGENT_REPORT_COUNTERS)
		return AGENT_R_BAD_COUNT;
	if (r->interval_ms < AGENT_INTERVAL_MIN_MS || r->interval_ms > AGENT_INTERVAL_MAX_MS)
		return AGENT_R_BAD_VALUE;
	for (unsigned i = 0; i < r->nhooks; i++) {
		uint8_t h = r->hooks[i].hook;

		if (h >= AGENT_MAX_HOOKS)
			return AGENT_R_BAD_VALUE;
		if (seen & (1u << h))
			return AGENT_R_DUPLICATE;
		seen |= 1u << h;
	}
	for (unsigned i = 0; i < r->ncounters; i++) {
		if (!str_ok(r->counters[i].name, AGENT_NAME_MAX, 1, name_char))
			return AGENT_R_BAD_STRING;
		for (unsigned j = 0; j < i; j++)
			if (names_equal(r->counters[i].name, r->counters[j].name))
				return AGENT_R_DUPLICATE;
	}
	return AGENT_R_NONE;
}

static enum agent_reason msg_check(const struct agent_msg *m)
{
	switch (m->type) {
	case AGENT_T_HELLO:
		if (!str_ok(m->u.hello.os, AGENT_OS_MAX, 1, printable))
			return AGENT_R_BAD_STRING;
		if (m->u.hello.guest_kind != AGENT_GUEST_MICRO &&
		    m->u.hello.guest_kind != AGENT_GUEST_LINUX)
			return AGENT_R_BAD_VALUE;
		if (m->u.hello.proto_min == 0 || m->u.hello.proto_min > m->u.hello.proto_max)
			return AGENT_R_BAD_VALUE;
		return AGENT_R_NONE;
	case AGENT_T_NEGOTIATION:
		return check_neg(&m->u.neg);
	case AGENT_T_REPORT:
		return check_report(&m->u.report);
	case AGENT_T_ACK:
		if (!type_known(m->u.ack.req_type) || type_to_host(m->u.ack.req_type) ||
		    m->u.ack.status > AGENT_ACK_MAX)
			return AGENT_R_BAD_VALUE;
		return AGENT_R_NONE;
	case AGENT_T_BYE:
		if (m->u.bye_reason < 1 || m->u.bye_reason > AGENT_BYE_MAX)
			return AGENT_R_BAD_VALUE;
		return AGENT_R_NONE;
	case AGENT_T_SET_INTERVAL:
		if (m->u.interval_ms < AGENT_INTERVAL_MIN_MS ||
		    m->u.interval_ms > AGENT_INTERVAL_MAX_MS)
			return AGENT_R_BAD_VALUE;
		return AGENT_R_NONE;
	case AGENT_T_SHUTDOWN:
		if (m->u.timeout_ms > AGENT_SHUTDOWN_MAX_MS)
			return AGENT_R_BAD_VALUE;
		return AGENT_R_NONE;
	case AGENT_T_HEARTBEAT:
	case AGENT_T_PONG:
	case AGENT_T_SYNC_ACK:
	case AGENT_T_PING:
	case AGENT_T_RENEGOTIATE:
	case AGENT_T_SYNC:
		return AGENT_R_NONE;
	}
	return AGENT_R_UNKNOWN_TYPE;
}

/* ---- encoder ------------------------------------------------------------- */

struct writer {
	uint8_t *p;
	size_t cap, off;
	bool overflow;
};

static uint8_t *w_take(struct writer *w, size_t n)
{
	uint8_t *p;

	if (w->overflow || n > w->cap - w->off) {
		w->overflow = true;
		return NULL;
	}
	p = w->p + w->off;
	w->off += n;
	return p;
}

static void w_u8(struct writer *w, uint8_t v)
{
	uint8_t *p = w_take(w, 1);

	if (p)
		*p = v;
}

static void w_u16(struct writer *w, uint16_t v)
{
	uint8_t *p = w_take(w, 2);

	if (p)
		wire_put16(p, v);
}

static void w_u32(struct writer *w, uint32_t v)
{
	uint8_t *p = w_take(w, 4);

	if (p)
		wire_put32(p, v);
}

static void w_u64(struct writer *w, uint64_t v)
{
	uint8_t *p = w_take(w, 8);

	if (p)
		wire_put64(p, v);
}

static void w_bytes(struct writer *w, const void *src, size_t n)
{
	uint8_t *p = w_take(w, n);

	if (p && n)
		wire_copy(p, src, n);
}

/* A string: one length byte, then the bytes, no NUL. */
static void w_str(struct writer *w, const char *s, size_t max)
{
	size_t n = wire_strnlen(s, max);

	w_u8(w, (uint8_t)n);
	w_bytes(w, s, n);
}

static void encode_payload(const struct agent_msg *m, struct writer *w)
{
	const struct agent_negotiation *n = &m->u.neg;
	const struct agent_report *r = &m->u.report;

	switch (m->type) {
	case AGENT_T_HELLO:
		w_u16(w, m->u.hello.agent_version);
		w_u8(w, m->u.hello.proto_min);
		w_u8(w, m->u.hello.proto_max);
		w_u8(w, m->u.hello.guest_kind);
		w_u8(w, 0);
		w_u16(w, 0);
		w_bytes(w, m->u.hello.boot_id, 16);
		w_str(w, m->u.hello.os, AGENT_OS_MAX);
		break;
	case AGENT_T_NEGOTIATION:
		w_u16(w, n->pv_abi_version);
		w_u8(w, n->status);
		w_u8(w, n->nrefused);
		w_u32(w, n->offered);
		w_u32(w, n->accepted);
		w_u32(w, n->kvm_flags);
		w_u32(w, n->kvm_features);
		w_u64(w, n->steal_ticks);
		w_u32(w, n->virtio_devices);
		w_str(w, n->clocksource, AGENT_CLOCKSOURCE_MAX);
		for (unsigned i = 0; i < n->nrefused; i++) {
			w_u8(w, n->refused[i].hook);
			w_u8(w, n->refused[i].reason);
		}
		break;
	case AGENT_T_REPORT:
		w_u64(w, r->uptime_ns);
		w_u32(w, r->interval_ms);
		w_u32(w, r->report_no);
		w_u8(w, r->nhooks);
		w_u8(w, r->ncounters);
		w_u16(w, 0);
		for (unsigned i = 0; i < r->nhooks; i++) {
			w_u8(w, r->hooks[i].hook);
			for (int k = 0; k < 7; k++)
				w_u8(w, 0);
			w_u64(w, r->hooks[i].calls);
			w_u64(w, r->hooks[i].cycles);
			w_u64(w, r->hooks[i].bytes);
			w_u64(w, r->hooks[i].errors);
		}
		for (unsigned i = 0; i < r->ncounters; i++) {
			w_str(w, r->counters[i].name, AGENT_NAME_MAX);
			w_u64(w, r->counters[i].value);
		}
		break;
	case AGENT_T_HEARTBEAT:
		w_u64(w, m->u.heartbeat.uptime_ns);
		w_u32(w, m->u.heartbeat.reports_sent);
		w_u32(w, 0);
		break;
	case AGENT_T_PONG:
	case AGENT_T_SYNC_ACK:
	case AGENT_T_PING:
	case AGENT_T_SYNC:
		w_u64(w, m->u.nonce);
		break;
	case AGENT_T_ACK:
		w_u32(w, m->u.ack.req_seq);
		w_u8(w, m->u.ack.req_type);
		w_u8(w, m->u.ack.status);
		w_u16(w, 0);
		break;
	case AGENT_T_BYE:
		w_u8(w, m->u.bye_reason);
		w_u8(w, 0);
		w_u16(w, 0);
		break;
	case AGENT_T_SET_INTERVAL:
		w_u32(w, m->u.interval_ms);
		break;
	case AGENT_T_SHUTDOWN:
		w_u32(w, m->u.timeout_ms);
		break;
	case AGENT_T_RENEGOTIATE:
		break;
	}
}

static void put_header(uint8_t *h, uint8_t type, uint32_t seq, uint16_t len)
{
	h[0] = AGENT_MAGIC0;
	h[1] = AGENT_MAGIC1;
	h[2] = AGENT_MAGIC2;
	h[3] = AGENT_MAGIC3;
	h[4] = AGENT_PROTO_VERSION;
	h[5] = type;
	wire_put16(h + 6, 0);
	wire_put32(h + 8, seq);
	wire_put16(h + 12, len);
	wire_put16(h + 14, 0);
}

int agent_encode(const struct agent_msg *m, void *buf, size_t cap)
{
	struct writer w;
	uint8_t *out = buf;
	size_t plen;
	uint32_t crc;

	if (!type_known(m->type) || msg_check(m) != AGENT_R_NONE)
		return AGENT_EINVAL;
	if (cap < AGENT_HDR_SIZE)
		return AGENT_ENOSPC;
	w.p = out + AGENT_HDR_SIZE;
	w.cap = cap - AGENT_HDR_SIZE;
	if (w.cap > AGENT_MAX_PAYLOAD)
		w.cap = AGENT_MAX_PAYLOAD;
	w.off = 0;
	w.overflow = false;
	encode_payload(m, &w);
	if (w.overflow)
		return AGENT_ENOSPC;
	plen = w.off;
	put_header(out, m->type, m->seq, (uint16_t)plen);
	crc = agent_crc32c(0, out, 16);
	crc = agent_crc32c(crc, out + AGENT_HDR_SIZE, plen);
	wire_put32(out + 16, crc);
	return (int)(AGENT_HDR_SIZE + plen);
}

/* ---- decoder ------------------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t len, off;
	enum agent_reason err; /* first error wins */
};

static const uint8_t *r_take(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		r->err = AGENT_R_BAD_LENGTH;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t r_u8(struct reader *r)
{
	const uint8_t *p = r_take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t r_u16(struct reader *r)
{
	const uint8_t *p = r_take(r, 2);

	return p ? wire_get16(p) : 0;
}

static uint32_t r_u32(struct reader *r)
{
	const uint8_t *p = r_take(r, 4);

	return p ? wire_get32(p) : 0;
}

static uint64_t r_u64(struct reader *r)
{
	const uint8_t *p = r_take(r, 8);

	return p ? wire_get64(p) : 0;
}

/* Reserved bytes must be zero so v2 can give them a meaning. */
static void r_zero(struct reader *r, size_t n)
{
	const uint8_t *p = r_take(r, n);

	for (size_t i = 0; p && i < n; i++)
		if (p[i] && !r->err)
			r->err = AGENT_R_PAYLOAD_RESERVED;
}

static void r_str(struct reader *r, char *dst, size_t max, size_t min, bool (*ok)(char))
{
	size_t n = r_u8(r);
	const uint8_t *p;

	if (r->err)
		return;
	if (n > max || n < min) {
		r->err = AGENT_R_BAD_STRING;
		return;
	}
	p = r_take(r, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!ok((char)p[i])) {
			r->err = AGENT_R_BAD_STRING;
			return;
		}
		dst[i] = (char)p[i];
	}
	dst[n] = '\0';
}

static void decode_neg(struct reader *r, struct agent_negotiation *n)
{
	n->pv_abi_version = r_u16(r);
	n->status = r_u8(r);
	n->nrefused = r_u8(r);
	n->offered = r_u32(r);
	n->accepted = r_u32(r);
	n->kvm_flags = r_u32(r);
	n->kvm_features = r_u32(r);
	n->steal_ticks = r_u64(r);
	n->virtio_devices = r_u32(r);
	if (!r->err && n->nrefused > AGENT_MAX_HOOKS) {
		r->err = AGENT_R_BAD_COUNT;
		return;
	}
	r_str(r, n->clocksource, AGENT_CLOCKSOURCE_MAX, 0, printable);
	for (unsigned i = 0; i < n->nrefused && !r->err; i++) {
		n->refused[i].hook = r_u8(r);
		n->refused[i].reason = r_u8(r);
	}
}

static void decode_report(struct reader *r, struct agent_report *rep)
{
	rep->uptime_ns = r_u64(r);
	rep->interval_ms = r_u32(r);
	rep->report_no = r_u32(r);
	rep->nhooks = r_u8(r);
	rep->ncounters = r_u8(r);
	r_zero(r, 2);
	if (!r->err &&
	    (rep->nhooks > AGENT_REPORT_HOOKS || rep->ncounters > AGENT_REPORT_COUNTERS)) {
		r->err = AGENT_R_BAD_COUNT;
		return;
	}
	for (unsigned i = 0; i < rep->nhooks && !r->err; i++) {
		struct agent_hook_stats *h = &rep->hooks[i];

		h->hook = r_u8(r);
		r_zero(r, 7);
		h->calls = r_u64(r);
		h->cycles = r_u64(r);
		h->bytes = r_u64(r);
		h->errors = r_u64(r);
	}
	for (unsigned i = 0; i < rep->ncounters && !r->err; i++) {
		r_str(r, rep->counters[i].name, AGENT_NAME_MAX, 1, name_char);
		rep->counters[i].value = r_u64(r);
	}
}

static void decode_payload(struct reader *r, struct agent_msg *m)
{
	const uint8_t *id;

	switch (m->type) {
	case AGENT_T_HELLO:
		m->u.hello.agent_version = r_u16(r);
		m->u.hello.proto_min = r_u8(r);
		m->u.hello.proto_max = r_u8(r);
		m->u.hello.guest_kind = r_u8(r);
		r_zero(r, 3);
		id = r_take(r, 16);
		if (id)
			wire_copy(m->u.hello.boot_id, id, 16);
		r_str(r, m->u.hello.os, AGENT_OS_MAX, 1, printable);
		break;
	case AGENT_T_NEGOTIATION:
		decode_neg(r, &m->u.neg);
		break;
	case AGENT_T_REPORT:
		decode_report(r, &m->u.report);
		break;
	case AGENT_T_HEARTBEAT:
		m->u.heartbeat.uptime_ns = r_u64(r);
		m->u.heartbeat.reports_sent = r_u32(r);
		r_zero(r, 4);
		break;
	case AGENT_T_PONG:
	case AGENT_T_SYNC_ACK:
	case AGENT_T_PING:
	case AGENT_T_SYNC:
		m->u.nonce = r_u64(r);
		break;
	case AGENT_T_ACK:
		m->u.ack.req_seq = r_u32(r);
		m->u.ack.req_type = r_u8(r);
		m->u.ack.status = r_u8(r);
		r_zero(r, 2);
		break;
	case AGENT_T_BYE:
		m->u.bye_reason = r_u8(r);
		r_zero(r, 3);
		break;
	case AGENT_T_SET_INTERVAL:
		m->u.interval_ms = r_u32(r);
		break;
	case AGENT_T_SHUTDOWN:
		m->u.timeout_ms = r_u32(r);
		break;
	case AGENT_T_RENEGOTIATE:
		break;
	}
	if (!r->err && r->off != r->len)
		r->err = AGENT_R_BAD_LENGTH;
}

int agent_decode_frame(const uint8_t *buf, size_t len, enum agent_dir dir, struct agent_msg *m,
		       enum agent_reason *why)
{
	struct reader r;
	enum agent_reason err = AGENT_R_NONE;
	size_t plen;
	uint32_t crc;

	if (len < AGENT_HDR_SIZE || !wire_is_magic(buf)) {
		err = AGENT_R_TRUNCATED;
		goto out;
	}
	err = wire_check_header(buf, &plen);
	if (!err && len != AGENT_HDR_SIZE + plen)
		err = AGENT_R_TRUNCATED;
	if (err)
		goto out;
	crc = agent_crc32c(0, buf, 16);
	crc = agent_crc32c(crc, buf + AGENT_HDR_SIZE, plen);
	if (crc != wire_get32(buf + 16)) {
		err = AGENT_R_BAD_CRC;
		goto out;
	}
	m->type = buf[5];
	m->seq = wire_get32(buf + 8);
	if (!type_known(m->type)) {
		err = AGENT_R_UNKNOWN_TYPE;
		goto out;
	}
	if (type_to_host(m->type) != (dir == AGENT_DIR_TO_HOST)) {
		err = AGENT_R_WRONG_DIR;
		goto out;
	}
	r.p = buf + AGENT_HDR_SIZE;
	r.len = plen;
	r.off = 0;
	r.err = AGENT_R_NONE;
	decode_payload(&r, m);
	err = r.err ? r.err : msg_check(m);
out:
	*why = err;
	return err ? AGENT_EBADMSG : 0;
}
