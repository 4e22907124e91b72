/* SPDX-License-Identifier: MIT */
/*
 * Built with -ffreestanding -nostdlib -nostdinc (only the compiler's own
 * headers) together with the agent's freestanding sources, as a microguest
 * would link them: proves they need no libc beyond memcpy, memset and
 * memcmp (what the guest SDK provides), and runs the agent machine and the decoder there.
 * The exit code is 0, or the number of the step that failed.
 */
#include "agent/agent.h"

__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call fs_main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" /* exit_group */
	"	syscall\n"
	"	hlt\n");

/* The environment's part of the freestanding contract. */
void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;

	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

static struct agent_sm sm;
static struct agent_dec host;
static struct agent_msg msg;
static uint8_t buf[4 * AGENT_FRAME_MAX];

static struct agent_stats stats;

/* Decodes buf[0..n) as the host; returns the frame types seen, one per byte. */
static uint32_t host_types(size_t n)
{
	enum agent_reason why;
	uint32_t types = 0;

	agent_dec_push(&host, buf, n);
	while (agent_dec_pop(&host, &msg, &why) == 1)
		types = types << 8 | msg.type;
	return types;
}

int fs_main(void);
int fs_main(void)
{
	struct agent_sm_config cfg = {.guest_kind = AGENT_GUEST_MICRO,
				      .os = "freestanding",
				      .interval_ms = 100,
				      .fill_report = agent_stats_fill,
				      .ctx = &stats};
	struct agent_negotiation neg = {.pv_abi_version = 1, .offered = 0xf, .accepted = 0x9};
	struct agent_msg ping = {.type = AGENT_T_PING, .seq = 1, .u.nonce = 42};
	size_t n;
	int len;

	if (agent_crc32c(0, "123456789", 9) != 0xe3069283u)
		return 1;
	if (agent_stats_hook(&stats, PV_HOOK_CONSOLE, agent_rdtsc() & 0xff, 4096, false))
		return 7;
	if (agent_sm_init(&sm, &cfg, 0) != 0 || agent_sm_set_negotiation(&sm, &neg) != 0)
		return 2;
	agent_dec_init(&host, AGENT_DIR_TO_HOST);
	n = agent_sm_output(&sm, buf, sizeof(buf), 0);
	if (host_types(n) != (AGENT_T_HELLO << 8 | AGENT_T_NEGOTIATION))
		return 3;
	len = agent_encode(&ping, buf, sizeof(buf));
	if (len <= 0)
		return 4;
	agent_sm_input(&sm, buf, (size_t)len, 1);
	n = agent_sm_output(&sm, buf, sizeof(buf), 100000000);
	if (host_types(n) != (AGENT_T_PONG << 8 | AGENT_T_REPORT) ||
	    msg.u.report.hooks[0].bytes != 4096)
		return 5;
	if (host.rejected || host.garbage_bytes)
		return 6;
	return 0;
}
