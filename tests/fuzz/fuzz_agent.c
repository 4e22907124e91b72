/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for everything that reads agent bytes: the one-frame
 * decoder, the stream decoder in both directions, the agent state machine
 * and the host session with its JSON. The first input byte picks a mode:
 * even: the rest is fed as raw bytes in chunks; odd: the rest is a list of
 * [type][length][payload] records turned into frames with correct headers
 * and checksums, so the fuzzer reaches payload validation past the CRC.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/agent.h"

#define MS 1000000ull

static size_t frames_from_records(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;

	while (n >= 2) {
		uint8_t type = in[0];
		size_t plen = in[1];
		uint32_t crc;

		in += 2;
		n -= 2;
		if (plen > n)
			plen = n;
		if (o + AGENT_HDR_SIZE + plen > cap)
			break;
		memcpy(out + o, "PVAG", 4);
		out[o + 4] = AGENT_PROTO_VERSION;
		out[o + 5] = type;
		memset(out + o + 6, 0, 10);
		out[o + 12] = (uint8_t)plen;
		memcpy(out + o + AGENT_HDR_SIZE, in, plen);
		crc = agent_crc32c(0, out + o, 16);
		crc = agent_crc32c(crc, out + o + AGENT_HDR_SIZE, plen);
		memcpy(out + o + 16, &crc, 4); /* x86: little-endian */
		o += AGENT_HDR_SIZE + plen;
		in += plen;
		n -= plen;
	}
	return o;
}

static void fill(void *ctx, struct agent_report *r)
{
	(void)ctx;
	r->nhooks = 1;
	r->hooks[0].hook = PV_HOOK_AGENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t stream[1 << 16], out[8 * AGENT_FRAME_MAX];
	static struct agent_dec dec[2];
	static struct agent_sm sm;
	static struct agent_msg m;
	struct agent_sm_config cfg = {
	    .guest_kind = AGENT_GUEST_LINUX, .os = "fuzz", .interval_ms = 100, .fill_report = fill};
	struct agent_host_config hcfg = {.nonce_seed = 1};
	enum agent_reason why;
	struct agent_host *h;
	json_object *j;
	size_t len, chunk;

	if (size < 1)
		return 0;
	chunk = (data[0] >> 1) + 1;
	if (data[0] & 1) {
		len = frames_from_records(data + 1, size - 1, stream, sizeof(stream));
	} else {
		len = size - 1 < sizeof(stream) ? size - 1 : sizeof(stream);
		memcpy(stream, data + 1, len);
	}

	/* The one-frame decoder on exactly the input bytes (no slack). */
	for (int d = 0; d < 2; d++)
		agent_decode_frame(data + 1, size - 1, (enum agent_dir)d, &m, &why);

	for (int d = 0; d < 2; d++) {
		size_t off = 0;

		agent_dec_init(&dec[d], (enum agent_dir)d);
		while (off < len) {
			size_t c = len - off < chunk ? len - off : chunk;

			off += agent_dec_push(&dec[d], stream + off, c);
			while (agent_dec_pop(&dec[d], &m, &why) != 0)
				;
		}
		agent_dec_drop_partial(&dec[d]);
	}

	agent_sm_init(&sm, &cfg, 0);
	agent_sm_input(&sm, stream, len, MS);
	agent_sm_output(&sm, out, sizeof(out), 200 * MS);
	agent_sm_events(&sm);

	h = agent_host_new(&hcfg, 0);
	if (!h)
		return 0;
	agent_host_feed(h, stream, len, MS);
	agent_host_output(h, out, sizeof(out), 5000 * MS);
	j = agent_host_to_json(h, 10000 * MS);
	json_object_to_json_string(j);
	json_object_put(j);
	agent_host_free(h);
	return 0;
}
