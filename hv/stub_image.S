/* SPDX-License-Identifier: MIT */
/* The process platform's stub (hv/stub/), embedded: hv_stub_image[0 .. hv_stub_image_end). */
	.section .rodata
	.balign 16
	.globl hv_stub_image
	.globl hv_stub_image_end
hv_stub_image:
	.incbin PVM_STUB_IMAGE
hv_stub_image_end:
	.section .note.GNU-stack, "", @progbits
