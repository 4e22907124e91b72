/* SPDX-License-Identifier: MIT */
/* The stream decoder: garbage, resynchronisation, partial frames, bounds. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/agent/samples.h"

/* Pushes all of s in chunks of `chunk` bytes; counts decoded frames of `type`. */
static int feed(struct agent_dec *d, const uint8_t *s, size_t len, size_t chunk, uint8_t type)
{
	struct agent_msg m;
	enum agent_reason why;
	size_t off = 0;
	int frames = 0, r;

	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		off += agent_dec_push(d, s + off, n);
		while ((r = agent_dec_pop(d, &m, &why)) != 0)
			if (r > 0 && m.type == type)
				frames++;
	}
	return frames;
}

START_TEST(garbage_before_a_frame_is_skipped_and_counted)
{
	static const char junk[] = "\xff\xff\x00PV\nPVA garbage PVAPVPPP";
	uint8_t s[256];
	struct agent_dec d;
	size_t len = sizeof(junk) - 1;

	memcpy(s, junk, len);
	len += sample_frame(AGENT_T_HEARTBEAT, 1, s + len, sizeof(s) - len);
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	ck_assert_int_eq(feed(&d, s, len, 3, AGENT_T_HEARTBEAT), 1);
	ck_assert_uint_eq(d.garbage_bytes, sizeof(junk) - 1);
	ck_assert_uint_eq(d.rejected, 0);
}
END_TEST

/* A fake header with a large length swallows the real frame behind it; the
 * checksum fails and the search restarts inside, finding the real frame. */
START_TEST(frame_hidden_in_a_fake_frame_is_found)
{
	uint8_t s[512];
	struct agent_dec d;
	size_t len;

	len = sample_frame(AGENT_T_HEARTBEAT, 1, s, sizeof(s));
	s[12] = 200; /* claims 200 payload bytes; checksum now wrong */
	len += sample_frame(AGENT_T_REPORT, 2, s + len, sizeof(s) - len);
	memset(s + len, 0, 200);
	len += 200;
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	ck_assert_int_eq(feed(&d, s, len, 1, AGENT_T_REPORT), 1);
	ck_assert_uint_eq(d.by_reason[AGENT_R_BAD_CRC], 1);
}
END_TEST

START_TEST(partial_frame_dropped_on_request)
{
	uint8_t s[256];
	struct agent_dec d;
	size_t len = sample_frame(AGENT_T_PONG, 1, s, sizeof(s));

	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	ck_assert_int_eq(feed(&d, s, 10, 10, AGENT_T_PONG), 0);
	ck_assert_uint_eq(agent_dec_pending(&d), 10);
	agent_dec_drop_partial(&d);
	ck_assert_uint_eq(d.by_reason[AGENT_R_TRUNCATED], 1);
	ck_assert_int_eq(feed(&d, s, len, len, AGENT_T_PONG), 1);
	agent_dec_drop_partial(&d); /* nothing pending: no-op */
	ck_assert_uint_eq(d.by_reason[AGENT_R_TRUNCATED], 1);
}
END_TEST

/* Megabytes of magic-rich garbage: no hang, bounded buffer, and a frame
 * after it still decodes. */
START_TEST(garbage_storm_then_frame)
{
	size_t glen = 1 << 20, len;
	uint8_t *s = malloc(glen + 64);
	struct agent_dec d;

	ck_assert_ptr_nonnull(s);
	srand(42);
	for (size_t i = 0; i < glen; i++) {
		static const uint8_t pick[] = {'P', 'V', 'A', 'G', 1, 0, 0xff, 0x08};

		s[i] = pick[rand() % 8];
	}
	len = glen + sample_frame(AGENT_T_PONG, 9, s + glen, 64);
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	ck_assert_int_eq(feed(&d, s, len, 4096, AGENT_T_PONG), 1);
	ck_assert_uint_le(agent_dec_pending(&d), sizeof(d.buf));
	ck_assert_uint_gt(d.garbage_bytes + d.rejected, 0);
	free(s);
}
END_TEST

/* Valid frames interleaved with random garbage, fed in random chunks: every
 * valid frame comes out, in order. */
START_TEST(interleaved_garbage_random_chunks)
{
	uint8_t *s = malloc(1 << 20);
	struct agent_dec d;
	struct agent_msg m;
	enum agent_reason why;
	size_t len = 0, off = 0;
	uint32_t next = 0;
	int r;

	ck_assert_ptr_nonnull(s);
	srand(7);
	for (uint32_t i = 0; i < 500; i++) {
		size_t g = (size_t)(rand() % 300);

		for (size_t k = 0; k < g; k++)
			s[len++] = (uint8_t)rand();
		len += sample_frame(i % 2 ? AGENT_T_REPORT : AGENT_T_HELLO, i, s + len,
				    (1 << 20) - len);
	}
	agent_dec_init(&d, AGENT_DIR_TO_HOST);
	while (off < len) {
		size_t n = (size_t)(rand() % 700) + 1;

		if (n > len - off)
			n = len - off;
		off += agent_dec_push(&d, s + off, n);
		while ((r = agent_dec_pop(&d, &m, &why)) != 0) {
			if (r < 0)
				continue;
			ck_assert_uint_eq(m.seq, next);
			next++;
		}
	}
	ck_assert_uint_eq(next, 500);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_stream");
	TCase *tc = tcase_create("stream");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, garbage_before_a_frame_is_skipped_and_counted);
	tcase_add_test(tc, frame_hidden_in_a_fake_frame_is_found);
	tcase_add_test(tc, partial_frame_dropped_on_request);
	tcase_add_test(tc, garbage_storm_then_frame);
	tcase_add_test(tc, interleaved_garbage_random_chunks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
