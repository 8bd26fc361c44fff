/* The firmware's ChaCha20-Poly1305 and X25519 (rec/chacha20poly1305.h, rec/x25519.h) on the
 * command line, for the cross-check against node:crypto (test/firmware-age-crypto.test.ts). One request per line on stdin,
 * one answer per line on stdout; hex everywhere, "-" for empty; PIECES is a comma-separated list
 * of update sizes that must add up to the text's length ("-" for one piece):
 *
 *     seal KEY NONCE AAD PIECES TEXT          -> CIPHERTEXT TAG
 *     open KEY NONCE AAD PIECES CIPHERTEXT TAG -> TEXT, or "reject"
 *     x25519 SCALAR U                         -> SHARED, or "reject" (all zero)
 *     x25519base SCALAR                       -> PUBLIC_KEY
 *
 * Anything malformed prints "error ..." and exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_hex.h"
#include "rec/chacha20poly1305.h"
#include "rec/err.h"
#include "rec/x25519.h"

#define MAX_TEXT (256u * 1024u)
#define MAX_LINE (2u * MAX_TEXT + 64u * 1024u)

int main(void)
{
    static char line[MAX_LINE];
    static unsigned char text[MAX_TEXT], out[MAX_TEXT], aad[1024];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strchr(line, '\n') == NULL) fail("line", "too long");
        const char *cmd = strtok(line, " \n");
        if (cmd == NULL) continue;
        if (strcmp(cmd, "x25519") == 0 || strcmp(cmd, "x25519base") == 0) {
            unsigned char scalar[REC_X25519_SIZE], u[REC_X25519_SIZE], result[REC_X25519_SIZE];
            if (parse_hex(strtok(NULL, " \n"), scalar, sizeof scalar, "scalar") != sizeof scalar) fail("scalar", "bad length");
            int err;
            if (cmd[6] == '\0') {
                if (parse_hex(strtok(NULL, " \n"), u, sizeof u, "u") != sizeof u) fail("u", "bad length");
                err = rec_x25519(result, scalar, u);
            } else {
                err = rec_x25519_base(result, scalar);
            }
            if (err == REC_OK) {
                print_hex(result, sizeof result);
            } else {
                printf("reject");
            }
            printf("\n");
            fflush(stdout);
            continue;
        }
        int seal = strcmp(cmd, "seal") == 0;
        if (!seal && strcmp(cmd, "open") != 0) fail("command", cmd);
        unsigned char key[REC_CHACHA20POLY1305_KEY_SIZE], nonce[REC_CHACHA20POLY1305_NONCE_SIZE];
        unsigned char tag[REC_CHACHA20POLY1305_TAG_SIZE];
        if (parse_hex(strtok(NULL, " \n"), key, sizeof key, "key") != sizeof key) fail("key", "bad length");
        if (parse_hex(strtok(NULL, " \n"), nonce, sizeof nonce, "nonce") != sizeof nonce) fail("nonce", "bad length");
        size_t aad_len = parse_hex(strtok(NULL, " \n"), aad, sizeof aad, "aad");
        char *pieces = strtok(NULL, " \n");
        size_t len = parse_hex(strtok(NULL, " \n"), text, sizeof text, "text");
        if (!seal && parse_hex(strtok(NULL, " \n"), tag, sizeof tag, "tag") != sizeof tag) fail("tag", "bad length");
        if (pieces == NULL) fail("pieces", "missing");
        rec_chacha20poly1305_t c;
        if (rec_chacha20poly1305_init(&c, key, nonce, aad, aad_len) != REC_OK) fail("init", "failed");
        size_t off = 0;
        for (char *p = strcmp(pieces, "-") == 0 ? NULL : pieces; p != NULL && *p != '\0';) {
            char *end;
            unsigned long n = strtoul(p, &end, 10);
            if (end == p || n > len - off) fail("pieces", "bad size");
            int err = seal ? rec_chacha20poly1305_encrypt(&c, out + off, text + off, n)
                           : rec_chacha20poly1305_decrypt(&c, out + off, text + off, n);
            if (err != REC_OK) fail("update", "failed");
            off += n;
            p = *end == ',' ? end + 1 : end;
        }
        if (off != len && (seal ? rec_chacha20poly1305_encrypt(&c, out + off, text + off, len - off)
                                : rec_chacha20poly1305_decrypt(&c, out + off, text + off, len - off)) != REC_OK) {
            fail("update", "failed");
        }
        if (seal) {
            if (rec_chacha20poly1305_encrypt_final(&c, tag) != REC_OK) fail("final", "failed");
            if (len == 0) printf("-");
            print_hex(out, len);
            printf(" ");
            print_hex(tag, sizeof tag);
        } else {
            int err = rec_chacha20poly1305_decrypt_final(&c, tag);
            if (err == REC_E_MISMATCH) {
                printf("reject");
            } else if (err == REC_OK) {
                if (len == 0) printf("-");
                print_hex(out, len);
            } else {
                fail("final", "failed");
            }
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
