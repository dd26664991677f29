/*
 * vmtest-hello: the example program vmtest installs and tests in its guests.
 *
 *   vmtest-hello            greets, naming the machine it runs on (uname -m)
 *   vmtest-hello --version  prints "NAME VERSION"
 *   vmtest-hello --crc32    prints the CRC-32 (IEEE 802.3, as zlib and gzip use)
 *                           of standard input as 8 lower-case hex digits
 *
 * Exit status: 0 on success, 1 on an I/O error, 2 on a usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#ifndef PROGRAM_NAME
#define PROGRAM_NAME "vmtest-hello"
#endif
#ifndef PROGRAM_VERSION
#define PROGRAM_VERSION "0"
#endif

static void usage(FILE *out)
{
	fprintf(out, "usage: %s [--version | --crc32 | --help]\n", PROGRAM_NAME);
}

static int greet(void)
{
	struct utsname u;

	if (uname(&u) != 0) {
		fprintf(stderr, "%s: uname: %s\n", PROGRAM_NAME, strerror(errno));
		return 1;
	}
	printf("Hello from %s on %s!\n", PROGRAM_NAME, u.machine);
	return 0;
}

/* Bitwise, reflected, polynomial 0xEDB88320: small and obviously correct. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
	}
	return crc;
}

static int crc32_stdin(void)
{
	unsigned char buf[65536];
	uint32_t crc = 0xFFFFFFFFu;
	size_t n;

	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
		crc = crc32_update(crc, buf, n);
	if (ferror(stdin)) {
		fprintf(stderr, "%s: reading standard input: %s\n", PROGRAM_NAME, strerror(errno));
		return 1;
	}
	printf("%08x\n", (unsigned)(crc ^ 0xFFFFFFFFu));
	return 0;
}

int main(int argc, char **argv)
{
	int status;

	if (argc == 1)
		status = greet();
	else if (argc == 2 && strcmp(argv[1], "--version") == 0)
		status = printf("%s %s\n", PROGRAM_NAME, PROGRAM_VERSION) < 0;
	else if (argc == 2 && strcmp(argv[1], "--crc32") == 0)
		status = crc32_stdin();
	else if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		status = 0;
	} else {
		usage(stderr);
		return 2;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: writing standard output: %s\n", PROGRAM_NAME, strerror(errno));
		return 1;
	}
	return status;
}
