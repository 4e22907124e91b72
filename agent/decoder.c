/* SPDX-License-Identifier: MIT */
/*
 * The stream decoder: bytes in, frames out. It holds at most one frame's
 * worth of bytes, never reads outside them, and resynchronises after garbage
 * by searching for the next magic. Freestanding.
 */
#include "agent/agent.h"
#include "agent/wire.h"

void agent_dec_init(struct agent_dec *d, enum agent_dir dir)
{
	__builtin_memset(d, 0, sizeof(*d));
	d->dir = dir;
}

size_t agent_dec_pending(const struct agent_dec *d)
{
	return d->len - d->start;
}

size_t agent_dec_push(struct agent_dec *d, const void *data, size_t len)
{
	size_t avail = d->len - d->start;
	size_t room;

	/*
	 * Move the pending bytes to the front in pieces no longer than the
	 * gap, so each copy is a non-overlapping memcpy: microguest SDKs need
	 * not provide memmove.
	 */
	if (d->start) {
		for (size_t off = 0; off < avail; off += d->start) {
			size_t k = avail - off < d->start ? avail - off : d->start;

			wire_copy(d->buf + off, d->buf + d->start + off, k);
		}
		d->start = 0;
		d->len = avail;
	}
	room = sizeof(d->buf) - d->len;
	if (len > room)
		len = room;
	if (len)
		wire_copy(d->buf + d->len, data, len);
	d->len += len;
	return len;
}

static void reject(struct agent_dec *d, enum agent_reason why, size_t skip)
{
	d->start += skip;
	d->rejected++;
	d->by_reason[why]++;
}

/* A magic, or the start of one cut off by the end of the data. */
static bool magic_at(const uint8_t *p, size_t avail)
{
	static const uint8_t magic[4] = {AGENT_MAGIC0, AGENT_MAGIC1, AGENT_MAGIC2, AGENT_MAGIC3};

	for (size_t i = 0; i < 4 && i < avail; i++)
		if (p[i] != magic[i])
			return false;
	return true;
}

int agent_dec_pop(struct agent_dec *d, struct agent_msg *m, enum agent_reason *why)
{
	const uint8_t *p = d->buf + d->start;
	size_t avail = d->len - d->start;
	size_t skip = 0, plen;
	enum agent_reason err;

	while (skip < avail && !magic_at(p + skip, avail - skip))
		skip++;
	d->garbage_bytes += skip;
	d->start += skip;
	p += skip;
	avail -= skip;
	*why = AGENT_R_NONE;
	if (avail < AGENT_HDR_SIZE)
		return 0;
	err = wire_check_header(p, &plen);
	if (err) {
		/* Not a frame after all: look again from the next byte. */
		*why = err;
		reject(d, err, 1);
		return AGENT_EBADMSG;
	}
	if (avail < AGENT_HDR_SIZE + plen)
		return 0;
	if (agent_decode_frame(p, AGENT_HDR_SIZE + plen, d->dir, m, why) == 0) {
		d->start += AGENT_HDR_SIZE + plen;
		d->frames++;
		return 1;
	}
	/*
	 * A bad checksum means the length may be garbage too, so the frame's
	 * bytes are searched again; any other error comes from a well-framed
	 * frame, which is dropped whole.
	 */
	reject(d, *why, *why == AGENT_R_BAD_CRC ? 1 : AGENT_HDR_SIZE + plen);
	return AGENT_EBADMSG;
}

void agent_dec_drop_partial(struct agent_dec *d)
{
	if (d->len == d->start)
		return;
	reject(d, AGENT_R_TRUNCATED, 1);
}
