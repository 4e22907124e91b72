// SPDX-License-Identifier: MIT
/* Freestanding string helpers, a small printf and command-line parsing. */
#include "guest/guest.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	void *ret = dst;

	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
	return ret;
}

void *memset(void *dst, int c, size_t n)
{
	void *ret = dst;

	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
	return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

struct out {
	char *buf;
	size_t n;
	size_t pos;
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->n)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct out *o, uint64_t v, unsigned int base, int width, char pad, bool neg)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[i++] = '-';
	for (int w = i; w < width; w++)
		put(o, pad);
	while (i)
		put(o, tmp[--i]);
}

/* Supports %d %i %u %x %s %c %% with l/ll/z and a zero-padded width. */
int guest_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = {buf, n, 0};

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;

		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int), 10,
				width, pad, false);
			break;
		case 'x':
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int), 16,
				width, pad, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			return -1;
		}
	}
	if (n)
		o.buf[o.pos < n ? o.pos : n - 1] = 0;
	return (int)o.pos;
}

int guest_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = guest_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

int guest_printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = guest_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r > 0)
		guest_console_write(buf, (size_t)r < sizeof(buf) ? (size_t)r : sizeof(buf) - 1);
	return r;
}

int guest_arg(const char *key, char *buf, size_t n)
{
	const volatile char *s = guest_boot->cmdline;
	size_t klen = strlen(key);

	while (*s) {
		while (*s == ' ')
			s++;
		size_t i = 0;

		while (i < klen && s[i] == key[i])
			i++;
		if (i == klen && s[i] == '=') {
			s += i + 1;
			for (i = 0; s[i] && s[i] != ' ' && i + 1 < n; i++)
				buf[i] = s[i];
			buf[i] = 0;
			return 0;
		}
		while (*s && *s != ' ')
			s++;
	}
	return -1;
}

uint64_t guest_arg_u64(const char *key, uint64_t def)
{
	char buf[24];
	uint64_t v = 0;

	if (guest_arg(key, buf, sizeof(buf)) || !buf[0])
		return def;
	for (char *p = buf; *p; p++) {
		if (*p < '0' || *p > '9')
			return def;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return v;
}

uint64_t guest_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}
