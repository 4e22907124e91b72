/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "tests/agent/samples.h"

const uint8_t sample_types[] = {
    AGENT_T_HELLO, AGENT_T_NEGOTIATION,	 AGENT_T_REPORT,      AGENT_T_HEARTBEAT,
    AGENT_T_PONG,  AGENT_T_SYNC_ACK,	 AGENT_T_ACK,	      AGENT_T_BYE,
    AGENT_T_PING,  AGENT_T_SET_INTERVAL, AGENT_T_RENEGOTIATE, AGENT_T_SHUTDOWN,
    AGENT_T_SYNC,
};
const size_t sample_ntypes = sizeof(sample_types);

void sample_msg(uint8_t type, struct agent_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->seq = 0x01020304;
	switch (type) {
	case AGENT_T_HELLO:
		m->u.hello.agent_version = 0x0102;
		m->u.hello.proto_min = 1;
		m->u.hello.proto_max = 1;
		m->u.hello.guest_kind = AGENT_GUEST_LINUX;
		for (int i = 0; i < 16; i++)
			m->u.hello.boot_id[i] = (uint8_t)(0xa0 + i);
		strcpy(m->u.hello.os, "Linux 6.1.0-28-amd64 #1 SMP Debian");
		break;
	case AGENT_T_NEGOTIATION:
		m->u.neg.pv_abi_version = 1;
		m->u.neg.status = AGENT_NEG_ACCEPTED;
		m->u.neg.offered = 0x1f;
		m->u.neg.accepted = 0x0d;
		m->u.neg.kvm_flags = AGENT_KVM_SIGNATURE | AGENT_KVM_CPUID_READ;
		m->u.neg.kvm_features = 0x01007afb;
		m->u.neg.steal_ticks = 12345678901ull;
		m->u.neg.virtio_devices = 1u << 2 | 1u << 3;
		strcpy(m->u.neg.clocksource, "kvm-clock");
		m->u.neg.nrefused = 2;
		m->u.neg.refused[0].hook = PV_HOOK_BLOCK;
		m->u.neg.refused[0].reason = AGENT_REFUSE_NOT_NEEDED;
		m->u.neg.refused[1].hook = PV_HOOK_HALT;
		m->u.neg.refused[1].reason = AGENT_REFUSE_DISABLED;
		break;
	case AGENT_T_REPORT:
		m->u.report.uptime_ns = 987654321012ull;
		m->u.report.interval_ms = 1000;
		m->u.report.report_no = 77;
		m->u.report.nhooks = 2;
		m->u.report.hooks[0] =
		    (struct agent_hook_stats){PV_HOOK_CONSOLE, 10, 20000, 4096, 1};
		m->u.report.hooks[1] =
		    (struct agent_hook_stats){PV_HOOK_CLOCK, UINT64_MAX, 1ull << 40, 0, 0};
		m->u.report.ncounters = 2;
		strcpy(m->u.report.counters[0].name, "console_bytes");
		m->u.report.counters[0].value = 4096;
		strcpy(m->u.report.counters[1].name, "console_bytez");
		m->u.report.counters[1].value = 3;
		break;
	case AGENT_T_HEARTBEAT:
		m->u.heartbeat.uptime_ns = 5000000000ull;
		m->u.heartbeat.reports_sent = 5;
		break;
	case AGENT_T_PONG:
	case AGENT_T_SYNC_ACK:
	case AGENT_T_PING:
	case AGENT_T_SYNC:
		m->u.nonce = 0x1122334455667788ull;
		break;
	case AGENT_T_ACK:
		m->u.ack.req_seq = 9;
		m->u.ack.req_type = AGENT_T_SET_INTERVAL;
		m->u.ack.status = AGENT_ACK_OK;
		break;
	case AGENT_T_BYE:
		m->u.bye_reason = AGENT_BYE_SHUTDOWN;
		break;
	case AGENT_T_SET_INTERVAL:
		m->u.interval_ms = 250;
		break;
	case AGENT_T_SHUTDOWN:
		m->u.timeout_ms = 5000;
		break;
	case AGENT_T_RENEGOTIATE:
		break;
	}
}

size_t sample_frame(uint8_t type, uint32_t seq, uint8_t *buf, size_t cap)
{
	struct agent_msg m;
	int n;

	sample_msg(type, &m);
	m.seq = seq;
	n = agent_encode(&m, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

void sample_fix_crc(uint8_t *f)
{
	size_t plen = f[12] | (size_t)f[13] << 8;
	uint32_t crc = agent_crc32c(0, f, 16);

	if (plen > AGENT_MAX_PAYLOAD)
		plen = 0;
	crc = agent_crc32c(crc, f + AGENT_HDR_SIZE, plen);
	f[16] = (uint8_t)crc;
	f[17] = (uint8_t)(crc >> 8);
	f[18] = (uint8_t)(crc >> 16);
	f[19] = (uint8_t)(crc >> 24);
}
