/* SPDX-License-Identifier: MIT */
/* Codec round trips for every frame type, CRC-32C, encoder limits. */
#include <check.h>
#include <string.h>

#include "tests/agent/samples.h"

static enum agent_dir dir_of(uint8_t type)
{
	return type < 0x40 ? AGENT_DIR_TO_HOST : AGENT_DIR_TO_AGENT;
}

START_TEST(crc32c_check_value)
{
	/* The standard check value of CRC-32C (RFC 3720 appendix B.4). */
	ck_assert_uint_eq(agent_crc32c(0, "123456789", 9), 0xe3069283u);
	/* Chaining over pieces equals one pass. */
	ck_assert_uint_eq(agent_crc32c(agent_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}
END_TEST

START_TEST(round_trip_each_type)
{
	uint8_t type = sample_types[_i];
	struct agent_msg in, out;
	enum agent_reason why = AGENT_R_COUNT;
	uint8_t buf[AGENT_FRAME_MAX];
	int n;

	sample_msg(type, &in);
	n = agent_encode(&in, buf, sizeof(buf));
	ck_assert_int_gt(n, AGENT_HDR_SIZE - 1);
	ck_assert_uint_eq(buf[5], type);
	memset(&out, 0, sizeof(out));
	ck_assert_int_eq(agent_decode_frame(buf, (size_t)n, dir_of(type), &out, &why), 0);
	ck_assert_int_eq(why, AGENT_R_NONE);
	ck_assert_mem_eq(&in, &out, sizeof(in));
	/* The same frame is refused in the other direction. */
	ck_assert_int_eq(agent_decode_frame(buf, (size_t)n, !dir_of(type), &out, &why),
			 AGENT_EBADMSG);
	ck_assert_int_eq(why, AGENT_R_WRONG_DIR);
}
END_TEST

START_TEST(encode_needs_room)
{
	uint8_t type = sample_types[_i];
	struct agent_msg m;
	uint8_t buf[AGENT_FRAME_MAX];
	int n;

	sample_msg(type, &m);
	n = agent_encode(&m, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(agent_encode(&m, buf, (size_t)n - 1), AGENT_ENOSPC);
	ck_assert_int_eq(agent_encode(&m, buf, 0), AGENT_ENOSPC);
	ck_assert_int_eq(agent_encode(&m, buf, (size_t)n), n);
	ck_assert_uint_eq(buf[n], 0xee); /* nothing written past the frame */
}
END_TEST

START_TEST(largest_report_round_trips)
{
	struct agent_msg in, out;
	enum agent_reason why;
	uint8_t buf[AGENT_FRAME_MAX];
	int n;

	memset(&in, 0, sizeof(in));
	in.type = AGENT_T_REPORT;
	in.u.report.interval_ms = AGENT_INTERVAL_MAX_MS;
	in.u.report.nhooks = AGENT_REPORT_HOOKS;
	in.u.report.ncounters = AGENT_REPORT_COUNTERS;
	for (int i = 0; i < AGENT_REPORT_HOOKS; i++)
		in.u.report.hooks[i] = (struct agent_hook_stats){
		    (uint8_t)(31 - i), UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
	for (int i = 0; i < AGENT_REPORT_COUNTERS; i++) {
		memset(in.u.report.counters[i].name, 'a', AGENT_NAME_MAX);
		in.u.report.counters[i].name[0] = (char)('a' + i);
		in.u.report.counters[i].value = UINT64_MAX - (uint64_t)i;
	}
	n = agent_encode(&in, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, AGENT_FRAME_MAX);
	memset(&out, 0, sizeof(out));
	ck_assert_int_eq(agent_decode_frame(buf, (size_t)n, AGENT_DIR_TO_HOST, &out, &why), 0);
	ck_assert_mem_eq(&in, &out, sizeof(in));
}
END_TEST

START_TEST(encoder_refuses_what_decoder_rejects)
{
	struct agent_msg m;
	uint8_t buf[AGENT_FRAME_MAX];

	sample_msg(AGENT_T_HELLO, &m);
	m.u.hello.os[0] = '\0';
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
	sample_msg(AGENT_T_HELLO, &m);
	memset(m.u.hello.os, 'x', sizeof(m.u.hello.os)); /* not NUL-terminated */
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
	sample_msg(AGENT_T_REPORT, &m);
	m.u.report.hooks[1].hook = m.u.report.hooks[0].hook;
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
	sample_msg(AGENT_T_NEGOTIATION, &m);
	m.u.neg.accepted = 0x100;
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
	sample_msg(AGENT_T_SET_INTERVAL, &m);
	m.u.interval_ms = 1;
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
	m.type = 0x33;
	ck_assert_int_eq(agent_encode(&m, buf, sizeof(buf)), AGENT_EINVAL);
}
END_TEST

/* Every frame type through the stream decoder, one byte at a time. */
START_TEST(stream_byte_by_byte)
{
	uint8_t stream[2][8 * AGENT_FRAME_MAX];
	size_t len[2] = {0, 0};
	unsigned want[2] = {0, 0};

	for (size_t i = 0; i < sample_ntypes; i++) {
		int d = dir_of(sample_types[i]);

		len[d] += sample_frame(sample_types[i], (uint32_t)i, stream[d] + len[d],
				       sizeof(stream[d]) - len[d]);
		want[d]++;
	}
	for (int d = 0; d < 2; d++) {
		struct agent_dec dec;
		struct agent_msg m;
		enum agent_reason why;
		unsigned got = 0;

		agent_dec_init(&dec, (enum agent_dir)d);
		for (size_t i = 0; i < len[d]; i++) {
			ck_assert_uint_eq(agent_dec_push(&dec, stream[d] + i, 1), 1);
			memset(&m, 0, sizeof(m));
			while (agent_dec_pop(&dec, &m, &why) == 1) {
				struct agent_msg ref;

				sample_msg(m.type, &ref);
				ref.seq = m.seq;
				ck_assert_mem_eq(&ref.u, &m.u, sizeof(m.u));
				memset(&m, 0, sizeof(m));
				got++;
			}
		}
		ck_assert_uint_eq(got, want[d]);
		ck_assert_uint_eq(dec.frames, want[d]);
		ck_assert_uint_eq(dec.rejected, 0);
		ck_assert_uint_eq(dec.garbage_bytes, 0);
		ck_assert_uint_eq(agent_dec_pending(&dec), 0);
	}
}
END_TEST

START_TEST(names_are_stable)
{
	ck_assert_str_eq(agent_reason_name(AGENT_R_BAD_CRC), "bad_crc");
	ck_assert_str_eq(agent_reason_name(AGENT_R_COUNT), "unknown");
	ck_assert_str_eq(agent_type_name(AGENT_T_REPORT), "report");
	ck_assert_str_eq(agent_type_name(0x3f), "unknown");
	ck_assert_str_eq(agent_hook_name(PV_HOOK_CONSOLE), "console");
	ck_assert_str_eq(agent_hook_name(PV_HOOK_HALT), "halt");
	ck_assert_str_eq(agent_hook_name(PV_HOOK_MEMREPORT), "memreport");
	ck_assert_str_eq(agent_hook_name(6), "hook6");
	ck_assert_str_eq(agent_hook_name(20), "hook20");
	ck_assert_str_eq(agent_hook_name(32), "invalid");
	for (unsigned r = 1; r < AGENT_R_COUNT; r++)
		ck_assert_str_ne(agent_reason_name(r), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_codec");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, crc32c_check_value);
	tcase_add_loop_test(tc, round_trip_each_type, 0, (int)sample_ntypes);
	tcase_add_loop_test(tc, encode_needs_room, 0, (int)sample_ntypes);
	tcase_add_test(tc, largest_report_round_trips);
	tcase_add_test(tc, encoder_refuses_what_decoder_rejects);
	tcase_add_test(tc, stream_byte_by_byte);
	tcase_add_test(tc, names_are_stable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
