/* SPDX-License-Identifier: MIT */
/* Little-endian field access for the agent codec; freestanding, private to agent/. */
#ifndef PVM_AGENT_WIRE_H
#define PVM_AGENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	wire_put16(p, (uint16_t)v);
	wire_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void wire_put64(uint8_t *p, uint64_t v)
{
	wire_put32(p, (uint32_t)v);
	wire_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return wire_get16(p) | (uint32_t)wire_get16(p + 2) << 16;
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	return wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}

/* Byte loops instead of libc: these files also build with -ffreestanding. */
static inline void wire_copy(void *dst, const void *src, size_t n)
{
	__builtin_memcpy(dst, src, n);
}

static inline size_t wire_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

static inline bool wire_is_magic(const uint8_t *p)
{
	return p[0] == AGENT_MAGIC0 && p[1] == AGENT_MAGIC1 && p[2] == AGENT_MAGIC2 &&
	       p[3] == AGENT_MAGIC3;
}

/* Checks the header fields that need no payload; sets *plen. */
static inline enum agent_reason wire_check_header(const uint8_t *h, size_t *plen)
{
	*plen = wire_get16(h + 12);
	if (h[4] != AGENT_PROTO_VERSION)
		return AGENT_R_BAD_VERSION;
	if (wire_get16(h + 6))
		return AGENT_R_BAD_FLAGS;
	if (wire_get16(h + 14))
		return AGENT_R_BAD_RESERVED;
	if (*plen > AGENT_MAX_PAYLOAD)
		return AGENT_R_TOO_LONG;
	return AGENT_R_NONE;
}

#endif /* PVM_AGENT_WIRE_H */
