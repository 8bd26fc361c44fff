/* Shared by the cross-check programs (ed25519_cli.c, age_crypto_cli.c): hex tokens in, hex lines
 * out, and "error WHAT: DETAIL" with exit 2 for anything malformed. */
#ifndef REC_CROSSCHECK_CLI_HEX_H
#define REC_CROSSCHECK_CLI_HEX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fail(const char *what, const char *detail)
{
    printf("error %s: %s\n", what, detail);
    exit(2);
}

static inline int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Hex token (or "-" for nothing) into out; returns the byte count. */
static inline size_t parse_hex(const char *tok, unsigned char *out, size_t max, const char *what)
{
    if (tok == NULL) fail(what, "missing");
    if (strcmp(tok, "-") == 0) return 0;
    size_t n = strlen(tok);
    if (n % 2 != 0 || n / 2 > max) fail(what, "bad length");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(tok[2 * i]), lo = nibble(tok[2 * i + 1]);
        if (hi < 0 || lo < 0) fail(what, "not hex");
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return n / 2;
}

/* Prints the bytes as lower-case hex, without a line end (answers may hold several fields). */
static inline void print_hex(const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) printf("%02x", d[i]);
}

#endif
