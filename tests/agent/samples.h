/* SPDX-License-Identifier: MIT */
/* Sample agent messages of every type, shared by the agent tests. */
#ifndef PVM_TESTS_AGENT_SAMPLES_H
#define PVM_TESTS_AGENT_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

extern const uint8_t sample_types[];
extern const size_t sample_ntypes;

/* Fills *m (zeroed first) with a valid message of the given type. */
void sample_msg(uint8_t type, struct agent_msg *m);
/* Encodes a sample; returns the frame length. */
size_t sample_frame(uint8_t type, uint32_t seq, uint8_t *buf, size_t cap);
/* Recomputes the CRC of a frame after a test changed it. */
void sample_fix_crc(uint8_t *frame);

#endif
