/* SPDX-License-Identifier: MIT */
/*
 * A table of malformed frames, each rejected with its reason, both by the
 * one-frame decoder and by the stream decoder (which then still finds the
 * valid frame that follows).
 */
#include <check.h>
#include <string.h>

#include "tests/agent/samples.h"

#define P(x) (AGENT_HDR_SIZE + (x)) /* payload offset within a frame */

enum op {
	SET8,  /* frame[off] = val */
	SET16, /* little-endian */
	SET32,
	PLEN,	/* payload cut or zero-extended to val bytes, header length updated */
	RAWLEN, /* header length field only */
};

struct bad {
	const char *name;
	uint8_t type;
	enum op op;
	size_t off;
	uint32_t val;
	bool keep_crc; /* leave the checksum stale */
	enum agent_reason want;
	int force; /* decode as sent to the host or to the agent, else OWN */
};

#define TO_HOST	 AGENT_DIR_TO_HOST
#define TO_AGENT AGENT_DIR_TO_AGENT
#define OWN	 -1

static const struct bad bad[] = {
    /* header */
    {"version 0", AGENT_T_HELLO, SET8, 4, 0, false, AGENT_R_BAD_VERSION, OWN},
    {"version 1 (an older peer)", AGENT_T_HELLO, SET8, 4, 1, false, AGENT_R_BAD_VERSION, OWN},
    {"version 3", AGENT_T_HELLO, SET8, 4, 3, false, AGENT_R_BAD_VERSION, OWN},
    {"flags bit 0", AGENT_T_HEARTBEAT, SET16, 6, 1, false, AGENT_R_BAD_FLAGS, OWN},
    {"flags bit 15", AGENT_T_HEARTBEAT, SET16, 6, 0x8000, false, AGENT_R_BAD_FLAGS, OWN},
    {"header reserved", AGENT_T_PONG, SET16, 14, 1, false, AGENT_R_BAD_RESERVED, OWN},
    {"length 2049", AGENT_T_PONG, RAWLEN, 0, 2049, false, AGENT_R_TOO_LONG, OWN},
    {"length 65535", AGENT_T_PONG, RAWLEN, 0, 0xffff, false, AGENT_R_TOO_LONG, OWN},
    {"checksum flipped", AGENT_T_REPORT, SET8, 16, 0x5a, true, AGENT_R_BAD_CRC, OWN},
    {"payload flipped", AGENT_T_REPORT, SET8, P(30), 0x77, true, AGENT_R_BAD_CRC, OWN},
    {"seq changed", AGENT_T_HELLO, SET32, 8, 99, true, AGENT_R_BAD_CRC, OWN},
    {"type 0", AGENT_T_PONG, SET8, 5, 0, false, AGENT_R_UNKNOWN_TYPE, OWN},
    {"type 0x09", AGENT_T_PONG, SET8, 5, 0x09, false, AGENT_R_UNKNOWN_TYPE, OWN},
    {"type 0x40", AGENT_T_PONG, SET8, 5, 0x40, false, AGENT_R_UNKNOWN_TYPE, OWN},
    {"type 0xff", AGENT_T_PONG, SET8, 5, 0xff, false, AGENT_R_UNKNOWN_TYPE, OWN},
    {"ping sent to the host", AGENT_T_PING, SET8, 0, 'P', false, AGENT_R_WRONG_DIR, TO_HOST},
    {"hello sent to the agent", AGENT_T_HELLO, SET8, 0, 'P', false, AGENT_R_WRONG_DIR, TO_AGENT},
    /* hello */
    {"hello short", AGENT_T_HELLO, PLEN, 0, 20, false, AGENT_R_BAD_LENGTH, OWN},
    {"hello empty", AGENT_T_HELLO, PLEN, 0, 0, false, AGENT_R_BAD_LENGTH, OWN},
    {"hello trailing byte", AGENT_T_HELLO, PLEN, 0, 60, false, AGENT_R_BAD_LENGTH, OWN},
    {"hello os empty", AGENT_T_HELLO, SET8, P(24), 0, false, AGENT_R_BAD_STRING, OWN},
    {"hello os 64 bytes", AGENT_T_HELLO, SET8, P(24), 64, false, AGENT_R_BAD_STRING, OWN},
    {"hello os newline", AGENT_T_HELLO, SET8, P(25), '\n', false, AGENT_R_BAD_STRING, OWN},
    {"hello os byte 0x80", AGENT_T_HELLO, SET8, P(30), 0x80, false, AGENT_R_BAD_STRING, OWN},
    {"hello os past payload", AGENT_T_HELLO, SET8, P(24), 40, false, AGENT_R_BAD_LENGTH, OWN},
    {"hello guest kind 3", AGENT_T_HELLO, SET8, P(4), 3, false, AGENT_R_BAD_VALUE, OWN},
    {"hello guest kind 0", AGENT_T_HELLO, SET8, P(4), 0, false, AGENT_R_BAD_VALUE, OWN},
    {"hello protocol min 0", AGENT_T_HELLO, SET8, P(2), 0, false, AGENT_R_BAD_VALUE, OWN},
    {"hello protocol min > max", AGENT_T_HELLO, SET8, P(2), 2, false, AGENT_R_BAD_VALUE, OWN},
    {"hello reserved", AGENT_T_HELLO, SET8, P(6), 1, false, AGENT_R_PAYLOAD_RESERVED, OWN},
    /* negotiation */
    {"neg 33 refused", AGENT_T_NEGOTIATION, SET8, P(3), 33, false, AGENT_R_BAD_COUNT, OWN},
    {"neg 3 refused, 2 present", AGENT_T_NEGOTIATION, SET8, P(3), 3, false, AGENT_R_BAD_LENGTH,
     OWN},
    {"neg status 3", AGENT_T_NEGOTIATION, SET8, P(2), 3, false, AGENT_R_BAD_VALUE, OWN},
    {"neg accepted not offered", AGENT_T_NEGOTIATION, SET32, P(8), 0x2d, false, AGENT_R_BAD_VALUE,
     OWN},
    {"neg refused but accepted", AGENT_T_NEGOTIATION, SET32, P(8), 0x0f, false, AGENT_R_BAD_VALUE,
     OWN},
    {"neg none with accepted", AGENT_T_NEGOTIATION, SET8, P(2), AGENT_NEG_NONE, false,
     AGENT_R_BAD_VALUE, OWN},
    {"neg unknown kvm flag", AGENT_T_NEGOTIATION, SET32, P(12), 0x10, false, AGENT_R_BAD_VALUE,
     OWN},
    {"neg virtio device type 0", AGENT_T_NEGOTIATION, SET32, P(28), 0x9, false, AGENT_R_BAD_VALUE,
     OWN},
    {"neg clocksource 32 bytes", AGENT_T_NEGOTIATION, SET8, P(32), 32, false, AGENT_R_BAD_STRING,
     OWN},
    {"neg clocksource tab", AGENT_T_NEGOTIATION, SET8, P(33), '\t', false, AGENT_R_BAD_STRING, OWN},
    {"neg refused hook 32", AGENT_T_NEGOTIATION, SET8, P(42), 32, false, AGENT_R_BAD_VALUE, OWN},
    {"neg refusal reason 0", AGENT_T_NEGOTIATION, SET8, P(43), 0, false, AGENT_R_BAD_VALUE, OWN},
    {"neg refusal reason 6", AGENT_T_NEGOTIATION, SET8, P(45), 6, false, AGENT_R_BAD_VALUE, OWN},
    {"neg refused twice", AGENT_T_NEGOTIATION, SET8, P(44), PV_HOOK_BLOCK, false, AGENT_R_DUPLICATE,
     OWN},
    /* report */
    {"report 17 hooks", AGENT_T_REPORT, SET8, P(16), 17, false, AGENT_R_BAD_COUNT, OWN},
    {"report 255 counters", AGENT_T_REPORT, SET8, P(17), 255, false, AGENT_R_BAD_COUNT, OWN},
    {"report cut in a hook", AGENT_T_REPORT, PLEN, 0, 60, false, AGENT_R_BAD_LENGTH, OWN},
    {"report header only", AGENT_T_REPORT, PLEN, 0, 19, false, AGENT_R_BAD_LENGTH, OWN},
    {"report interval 99 ms", AGENT_T_REPORT, SET32, P(8), 99, false, AGENT_R_BAD_VALUE, OWN},
    {"report interval 0", AGENT_T_REPORT, SET32, P(8), 0, false, AGENT_R_BAD_VALUE, OWN},
    {"report interval > 1 h", AGENT_T_REPORT, SET32, P(8), 3600001, false, AGENT_R_BAD_VALUE, OWN},
    {"report hook id 40", AGENT_T_REPORT, SET8, P(60), 40, false, AGENT_R_BAD_VALUE, OWN},
    {"report hook twice", AGENT_T_REPORT, SET8, P(60), PV_HOOK_CONSOLE, false, AGENT_R_DUPLICATE,
     OWN},
    {"report counter twice", AGENT_T_REPORT, SET8, P(135), 's', false, AGENT_R_DUPLICATE, OWN},
    {"report counter uppercase", AGENT_T_REPORT, SET8, P(101), 'C', false, AGENT_R_BAD_STRING, OWN},
    {"report counter name empty", AGENT_T_REPORT, SET8, P(100), 0, false, AGENT_R_BAD_STRING, OWN},
    {"report counter name 32", AGENT_T_REPORT, SET8, P(122), 32, false, AGENT_R_BAD_STRING, OWN},
    {"report hook reserved", AGENT_T_REPORT, SET8, P(23), 1, false, AGENT_R_PAYLOAD_RESERVED, OWN},
    {"report reserved", AGENT_T_REPORT, SET16, P(18), 1, false, AGENT_R_PAYLOAD_RESERVED, OWN},
    /* small frames */
    {"heartbeat 15 bytes", AGENT_T_HEARTBEAT, PLEN, 0, 15, false, AGENT_R_BAD_LENGTH, OWN},
    {"heartbeat reserved", AGENT_T_HEARTBEAT, SET32, P(12), 7, false, AGENT_R_PAYLOAD_RESERVED,
     OWN},
    {"pong 7 bytes", AGENT_T_PONG, PLEN, 0, 7, false, AGENT_R_BAD_LENGTH, OWN},
    {"sync_ack 9 bytes", AGENT_T_SYNC_ACK, PLEN, 0, 9, false, AGENT_R_BAD_LENGTH, OWN},
    {"ack for a hello", AGENT_T_ACK, SET8, P(4), AGENT_T_HELLO, false, AGENT_R_BAD_VALUE, OWN},
    {"ack for type 0x60", AGENT_T_ACK, SET8, P(4), 0x60, false, AGENT_R_BAD_VALUE, OWN},
    {"ack status 4", AGENT_T_ACK, SET8, P(5), 4, false, AGENT_R_BAD_VALUE, OWN},
    {"ack reserved", AGENT_T_ACK, SET16, P(6), 1, false, AGENT_R_PAYLOAD_RESERVED, OWN},
    {"bye reason 0", AGENT_T_BYE, SET8, P(0), 0, false, AGENT_R_BAD_VALUE, OWN},
    {"bye reason 3", AGENT_T_BYE, SET8, P(0), 3, false, AGENT_R_BAD_VALUE, OWN},
    {"bye reserved", AGENT_T_BYE, SET8, P(3), 1, false, AGENT_R_PAYLOAD_RESERVED, OWN},
    /* host -> agent */
    {"ping 0 bytes", AGENT_T_PING, PLEN, 0, 0, false, AGENT_R_BAD_LENGTH, OWN},
    {"set_interval 50 ms", AGENT_T_SET_INTERVAL, SET32, P(0), 50, false, AGENT_R_BAD_VALUE, OWN},
    {"set_interval 5 bytes", AGENT_T_SET_INTERVAL, PLEN, 0, 5, false, AGENT_R_BAD_LENGTH, OWN},
    {"renegotiate with payload", AGENT_T_RENEGOTIATE, PLEN, 0, 1, false, AGENT_R_BAD_LENGTH, OWN},
    {"shutdown timeout 600001", AGENT_T_SHUTDOWN, SET32, P(0), 600001, false, AGENT_R_BAD_VALUE,
     OWN},
    {"sync 0 bytes", AGENT_T_SYNC, PLEN, 0, 0, false, AGENT_R_BAD_LENGTH, OWN},
};

static enum agent_dir dir_of(const struct bad *b)
{
	if (b->force != OWN)
		return (enum agent_dir)b->force;
	return b->type < 0x40 ? TO_HOST : TO_AGENT;
}

/* Builds the malformed frame of case b; returns its length. */
static size_t build(const struct bad *b, uint8_t *f, size_t cap)
{
	size_t len = sample_frame(b->type, 7, f, cap);
	size_t plen = len - AGENT_HDR_SIZE;

	ck_assert_uint_gt(len, 0);
	switch (b->op) {
	case SET8:
		f[b->off] = (uint8_t)b->val;
		break;
	case SET16:
		f[b->off] = (uint8_t)b->val;
		f[b->off + 1] = (uint8_t)(b->val >> 8);
		break;
	case SET32:
		for (int i = 0; i < 4; i++)
			f[b->off + i] = (uint8_t)(b->val >> (8 * i));
		break;
	case PLEN:
		if (b->val > plen)
			memset(f + len, 0, b->val - plen);
		len = AGENT_HDR_SIZE + b->val;
		/* fallthrough */
	case RAWLEN:
		f[12] = (uint8_t)b->val;
		f[13] = (uint8_t)(b->val >> 8);
		break;
	}
	if (!b->keep_crc)
		sample_fix_crc(f);
	return len;
}

START_TEST(rejected_with_reason)
{
	const struct bad *b = &bad[_i];
	uint8_t f[AGENT_FRAME_MAX + 64];
	struct agent_msg m;
	enum agent_reason why = AGENT_R_NONE;
	size_t len = build(b, f, sizeof(f));

	if (b->op == RAWLEN)
		len = sizeof(f); /* the frame claims more than there is */
	ck_assert_msg(agent_decode_frame(f, len, dir_of(b), &m, &why) == AGENT_EBADMSG,
		      "%s: accepted", b->name);
	ck_assert_msg(why == b->want, "%s: reason %s, want %s", b->name, agent_reason_name(why),
		      agent_reason_name(b->want));
}
END_TEST

/* The stream decoder rejects the frame with the same reason first, then
 * finds the valid frame right behind it. */
START_TEST(stream_rejects_then_recovers)
{
	const struct bad *b = &bad[_i];
	enum agent_dir dir = dir_of(b);
	uint8_t valid_type = dir == TO_HOST ? AGENT_T_PONG : AGENT_T_PING;
	uint8_t s[2 * AGENT_FRAME_MAX + 64];
	struct agent_dec dec;
	struct agent_msg m;
	enum agent_reason why, first = AGENT_R_NONE;
	size_t len, off = 0;
	int r, frames = 0;

	len = b->op == RAWLEN ? AGENT_HDR_SIZE + 8 : build(b, s, sizeof(s));
	if (b->op == RAWLEN)
		build(b, s, sizeof(s));
	len += sample_frame(valid_type, 8, s + len, sizeof(s) - len);
	agent_dec_init(&dec, dir);
	while (off < len) {
		off += agent_dec_push(&dec, s + off, len - off);
		while ((r = agent_dec_pop(&dec, &m, &why)) != 0) {
			if (r < 0 && first == AGENT_R_NONE)
				first = why;
			if (r > 0) {
				ck_assert_uint_eq(m.type, valid_type);
				ck_assert_uint_eq(m.seq, 8);
				frames++;
			}
		}
	}
	if (b->op == RAWLEN) {
		/* The length field is refused before its bytes are awaited. */
		ck_assert_int_eq(first, b->want);
	} else {
		ck_assert_msg(first == b->want, "%s: stream reason %s, want %s", b->name,
			      agent_reason_name(first), agent_reason_name(b->want));
	}
	ck_assert_msg(frames == 1, "%s: valid frame after it decoded %d times", b->name, frames);
	ck_assert_uint_ge(dec.rejected, 1);
	ck_assert_uint_ge(dec.by_reason[b->want], 1);
}
END_TEST

START_TEST(table_is_large_enough)
{
	ck_assert_uint_ge((sizeof(bad) / sizeof(bad[0])), 30);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_malformed");
	TCase *tc = tcase_create("malformed");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, rejected_with_reason, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_loop_test(tc, stream_rejects_then_recovers, 0,
			    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, table_is_large_enough);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
