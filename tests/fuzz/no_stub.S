/* SPDX-License-Identifier: MIT */
/* The fuzz build's stand-in for hv/stub_image.S: an empty stub image. The
 * process platform is linked in (vm.c names it) but never started. */
	.section .rodata
	.globl hv_stub_image
	.globl hv_stub_image_end
hv_stub_image:
hv_stub_image_end:
	.section .note.GNU-stack, "", @progbits
